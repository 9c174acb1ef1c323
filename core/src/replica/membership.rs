//! Cluster membership and quorums, including joint consensus (Raft §6,
//! thesis §4.3): while a change is in flight a decision needs a majority of
//! the outgoing voters *and* a majority of the incoming ones.

use crate::id::{LogIndex, NodeId};
use alloc::vec::Vec;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Who votes, who only listens.
///
/// Voter and learner lists are kept sorted and free of duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Membership {
    voters: Vec<NodeId>,
    /// Voters of the configuration being left; empty unless joint.
    outgoing: Vec<NodeId>,
    learners: Vec<NodeId>,
    /// Outgoing voters that become learners when the joint configuration is
    /// left; empty unless joint. Stored in the configuration itself so that
    /// whichever leader finishes the change knows the target.
    learners_next: Vec<NodeId>,
    /// Where members can be reached, sorted by id, one per member at most:
    /// opaque to the protocol, carried with every configuration so that
    /// whoever learns a configuration learns how to reach its members (the
    /// node puts peer addresses here, as etcd puts peer URLs in its
    /// ConfChange context).
    addresses: Vec<(NodeId, Bytes)>,
}

/// The longest address a member may have, in bytes: a host name (at most
/// 253) and a port fit.
pub const MAX_ADDRESS_LEN: usize = 300;

/// Marks the encoding that carries addresses: a voter count no encoding
/// can hold, so configurations written before addresses existed (which
/// start with the voter count) still decode.
const WITH_ADDRESSES: u32 = u32::MAX;

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer be reached.
    Lost,
    /// Not decided yet.
    Pending,
}

/// A requested change: the voter and learner sets to end up with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MembershipChange {
    /// The voters of the new configuration.
    pub voters: Vec<NodeId>,
    /// The learners of the new configuration.
    pub learners: Vec<NodeId>,
    /// Addresses to record or replace; members not named keep theirs.
    pub addresses: Vec<(NodeId, Bytes)>,
}

/// Why a membership could not be built or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A configuration needs at least one voter.
    #[error("a configuration needs at least one voter")]
    NoVoters,
    /// A node cannot be both a voter and a learner.
    #[error("node {0} is both a voter and a learner")]
    VoterAndLearner(NodeId),
    /// The encoded form was cut short or had trailing bytes.
    #[error("malformed membership encoding")]
    Malformed,
    /// An address longer than [`MAX_ADDRESS_LEN`].
    #[error("the address of node {0} is longer than {MAX_ADDRESS_LEN} bytes")]
    AddressTooLong(NodeId),
}

fn sorted(mut ids: Vec<NodeId>) -> Vec<NodeId> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Membership {
    /// A simple (non-joint) configuration.
    pub fn new(voters: Vec<NodeId>, learners: Vec<NodeId>) -> Result<Self, MembershipError> {
        let m = Membership {
            voters: sorted(voters),
            outgoing: Vec::new(),
            learners: sorted(learners),
            learners_next: Vec::new(),
            addresses: Vec::new(),
        };
        m.validate()?;
        Ok(m)
    }

    /// This configuration with `addresses` recorded (replacing any a
    /// member had); addresses of non-members are dropped.
    pub fn with_addresses(
        mut self,
        addresses: impl IntoIterator<Item = (NodeId, Bytes)>,
    ) -> Result<Self, MembershipError> {
        let mut merged: alloc::collections::BTreeMap<NodeId, Bytes> = self.addresses.drain(..).collect();
        for (id, addr) in addresses {
            if addr.len() > MAX_ADDRESS_LEN {
                return Err(MembershipError::AddressTooLong(id));
            }
            merged.insert(id, addr);
        }
        self.addresses = merged.into_iter().filter(|(id, _)| self.contains(*id)).collect();
        Ok(self)
    }

    /// Where `id` can be reached, if the configuration says.
    pub fn address(&self, id: NodeId) -> Option<&Bytes> {
        self.addresses.binary_search_by_key(&id, |(i, _)| *i).ok().map(|k| &self.addresses[k].1)
    }

    /// Every recorded address, by id.
    pub fn addresses(&self) -> &[(NodeId, Bytes)] {
        &self.addresses
    }

    /// A configuration of voters only.
    pub fn voters_only(voters: impl IntoIterator<Item = NodeId>) -> Result<Self, MembershipError> {
        Membership::new(voters.into_iter().collect(), Vec::new())
    }

    fn validate(&self) -> Result<(), MembershipError> {
        if self.voters.is_empty() {
            return Err(MembershipError::NoVoters);
        }
        if self.outgoing.is_empty() && !self.learners_next.is_empty() {
            return Err(MembershipError::Malformed);
        }
        for l in &self.learners {
            if self.voters.binary_search(l).is_ok() || self.outgoing.binary_search(l).is_ok() {
                return Err(MembershipError::VoterAndLearner(*l));
            }
        }
        if self.addresses.windows(2).any(|w| w[0].0 >= w[1].0)
            || self.addresses.iter().any(|(id, a)| !self.contains(*id) || a.len() > MAX_ADDRESS_LEN)
        {
            return Err(MembershipError::Malformed);
        }
        Ok(())
    }

    /// The joint configuration that moves from `self` to `change`
    /// (thesis §4.3). If the voters do not change, the result is simple.
    pub fn enter_joint(&self, change: &MembershipChange) -> Result<Membership, MembershipError> {
        let target = Membership::new(change.voters.clone(), change.learners.clone())?;
        // Addresses of members leaving are kept while they still vote in
        // the outgoing half; `with_addresses` drops the rest.
        let known = self.addresses.iter().cloned();
        if target.voters == self.voters {
            return target.with_addresses(known.chain(change.addresses.iter().cloned()));
        }
        // A voter being demoted stays a voter of the outgoing half until the
        // joint configuration is left; it becomes a learner only then.
        let (learners_next, learners): (Vec<NodeId>, Vec<NodeId>) =
            target.learners.into_iter().partition(|l| self.voters.binary_search(l).is_ok());
        let joint = Membership {
            voters: target.voters,
            outgoing: self.voters.clone(),
            learners,
            learners_next,
            addresses: Vec::new(),
        };
        joint.validate()?;
        joint.with_addresses(known.chain(change.addresses.iter().cloned()))
    }

    /// The simple configuration that ends a joint one: the incoming voters,
    /// with demoted voters turned into learners. A simple configuration is
    /// returned unchanged.
    pub fn leave_joint(&self) -> Membership {
        let mut learners = self.learners.clone();
        learners.extend_from_slice(&self.learners_next);
        let mut next = Membership {
            voters: self.voters.clone(),
            outgoing: Vec::new(),
            learners: sorted(learners),
            learners_next: Vec::new(),
            addresses: Vec::new(),
        };
        next.addresses = self.addresses.iter().filter(|(id, _)| next.contains(*id)).cloned().collect();
        next
    }

    /// True while a joint configuration is in force.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// The (incoming) voters.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The outgoing voters; empty unless joint.
    pub fn outgoing(&self) -> &[NodeId] {
        &self.outgoing
    }

    /// The learners.
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// True if `id` votes in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok() || self.outgoing.binary_search(&id).is_ok()
    }

    /// True if `id` is a member in any role.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.binary_search(&id).is_ok()
    }

    /// True if no one votes: a node waiting to be added to a cluster.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty() && self.outgoing.is_empty()
    }

    /// Every member once, voters first.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        let outgoing_only = self.outgoing.iter().filter(|id| self.voters.binary_search(id).is_err());
        self.voters.iter().chain(outgoing_only).chain(self.learners.iter()).copied()
    }

    /// True if this node alone forms every quorum.
    pub fn is_singleton(&self, id: NodeId) -> bool {
        self.voters == [id] && (self.outgoing.is_empty() || self.outgoing == [id])
    }

    /// The highest index acknowledged by a quorum, given each voter's
    /// acknowledged index (Raft §5.3; joint: the lower of both halves).
    pub fn committed_index(&self, mut acked: impl FnMut(NodeId) -> LogIndex) -> LogIndex {
        LogIndex(self.quorum_value(|id| acked(id).0))
    }

    /// The highest value that a quorum has reached, given each voter's
    /// monotonic counter (an acknowledged index, a confirmed read round).
    pub fn quorum_value(&self, mut value: impl FnMut(NodeId) -> u64) -> u64 {
        let incoming = majority_value(&self.voters, &mut value);
        if self.outgoing.is_empty() { incoming } else { incoming.min(majority_value(&self.outgoing, &mut value)) }
    }

    /// Counts votes; `vote(id)` is `Some(granted)` once `id` answered.
    pub fn vote_result(&self, mut vote: impl FnMut(NodeId) -> Option<bool>) -> VoteResult {
        let a = majority_vote(&self.voters, &mut vote);
        if self.outgoing.is_empty() {
            return a;
        }
        let b = majority_vote(&self.outgoing, &mut vote);
        match (a, b) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// True if the set of nodes for which `active(id)` holds forms a quorum.
    pub fn has_quorum(&self, mut active: impl FnMut(NodeId) -> bool) -> bool {
        self.vote_result(|id| Some(active(id))) == VoteResult::Won
    }

    /// Appends the wire form: four length-prefixed lists of little-endian
    /// ids; when addresses are recorded, a marker first and the addresses
    /// (id, u16 length, bytes) after. Without addresses the form is the
    /// one written before addresses existed.
    pub fn encode_into(&self, buf: &mut BytesMut) {
        if !self.addresses.is_empty() {
            buf.put_u32_le(WITH_ADDRESSES);
        }
        for list in [&self.voters, &self.outgoing, &self.learners, &self.learners_next] {
            buf.put_u32_le(list.len() as u32);
            for id in list {
                buf.put_u64_le(id.0);
            }
        }
        if !self.addresses.is_empty() {
            buf.put_u32_le(self.addresses.len() as u32);
            for (id, addr) in &self.addresses {
                buf.put_u64_le(id.0);
                // validate() bounds every address by MAX_ADDRESS_LEN.
                buf.put_u16_le(addr.len() as u16);
                buf.put_slice(addr);
            }
        }
    }

    /// The wire form as one buffer.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut buf);
        buf.freeze()
    }

    /// The length of [`Membership::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let lists = 16 + 8 * (self.voters.len() + self.outgoing.len() + self.learners.len() + self.learners_next.len());
        if self.addresses.is_empty() {
            lists
        } else {
            lists + 8 + self.addresses.iter().map(|(_, a)| 10 + a.len()).sum::<usize>()
        }
    }

    /// Decodes a membership that fills `data` exactly (a config entry's payload).
    pub fn decode_exact(mut data: &[u8]) -> Result<Membership, MembershipError> {
        let m = Membership::decode(&mut data)?;
        if data.has_remaining() {
            return Err(MembershipError::Malformed);
        }
        Ok(m)
    }

    /// Decodes one membership from the front of `buf`.
    ///
    /// Lengths are checked against the bytes present before anything is
    /// allocated, so a hostile length cannot force a large allocation.
    pub fn decode(buf: &mut impl Buf) -> Result<Membership, MembershipError> {
        let chunk = buf.chunk();
        let with_addresses = chunk.len() >= 4 && chunk[..4] == WITH_ADDRESSES.to_le_bytes();
        if with_addresses {
            buf.advance(4);
        }
        let mut lists: [Vec<NodeId>; 4] = Default::default();
        for list in &mut lists {
            if buf.remaining() < 4 {
                return Err(MembershipError::Malformed);
            }
            let n = buf.get_u32_le() as usize;
            if buf.remaining() / 8 < n {
                return Err(MembershipError::Malformed);
            }
            list.reserve_exact(n);
            for _ in 0..n {
                list.push(NodeId(buf.get_u64_le()));
            }
            // The encoder writes sorted, duplicate-free lists; anything else
            // was not written by us.
            if list.windows(2).any(|w| w[0] >= w[1]) {
                return Err(MembershipError::Malformed);
            }
        }
        let [voters, outgoing, learners, learners_next] = lists;
        let addresses = if with_addresses { decode_addresses(buf)? } else { Vec::new() };
        let m = Membership { voters, outgoing, learners, learners_next, addresses };
        m.validate().map_err(|_| MembershipError::Malformed)?;
        Ok(m)
    }
}

/// The address list of the encoding that carries one; every length is
/// checked against the bytes present before anything is allocated.
fn decode_addresses(buf: &mut impl Buf) -> Result<Vec<(NodeId, Bytes)>, MembershipError> {
    if buf.remaining() < 4 {
        return Err(MembershipError::Malformed);
    }
    let n = buf.get_u32_le() as usize;
    if buf.remaining() / 10 < n {
        return Err(MembershipError::Malformed);
    }
    let mut addresses = Vec::with_capacity(n);
    for _ in 0..n {
        if buf.remaining() < 10 {
            return Err(MembershipError::Malformed);
        }
        let id = NodeId(buf.get_u64_le());
        let len = buf.get_u16_le() as usize;
        if len > MAX_ADDRESS_LEN || buf.remaining() < len {
            return Err(MembershipError::Malformed);
        }
        addresses.push((id, buf.copy_to_bytes(len)));
    }
    Ok(addresses)
}

fn majority_value(voters: &[NodeId], acked: &mut impl FnMut(NodeId) -> u64) -> u64 {
    match voters.len() {
        0 => u64::MAX,
        1 => acked(voters[0]),
        n if n <= 9 => {
            // Small clusters: sort on the stack, no allocation on the commit path.
            let mut buf = [0u64; 9];
            for (slot, id) in buf.iter_mut().zip(voters) {
                *slot = acked(*id);
            }
            let s = &mut buf[..n];
            s.sort_unstable_by(|a, b| b.cmp(a));
            s[n / 2]
        }
        n => {
            let mut v: Vec<u64> = voters.iter().map(|id| acked(*id)).collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v[n / 2]
        }
    }
}

fn majority_vote(voters: &[NodeId], vote: &mut impl FnMut(NodeId) -> Option<bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut yes, mut no) = (0, 0);
    for id in voters {
        match vote(*id) {
            Some(true) => yes += 1,
            Some(false) => no += 1,
            None => {}
        }
    }
    let quorum = voters.len() / 2 + 1;
    if yes >= quorum {
        VoteResult::Won
    } else if voters.len() - no < quorum {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().map(|i| NodeId(*i)).collect()
    }

    #[test]
    fn majority_commit_index_is_the_median_acknowledgement() {
        let m = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        let acked = |id: NodeId| LogIndex([0, 5, 7, 9][id.0 as usize]);
        assert_eq!(m.committed_index(acked), LogIndex(7));
        let m5 = Membership::voters_only(ids(&[1, 2, 3, 4, 5])).unwrap();
        assert_eq!(m5.committed_index(|id| LogIndex(id.0 * 10)), LogIndex(30));
        let m4 = Membership::voters_only(ids(&[1, 2, 3, 4])).unwrap();
        // Four voters need three: the third-highest.
        assert_eq!(m4.committed_index(|id| LogIndex(id.0 * 10)), LogIndex(20));
    }

    #[test]
    fn large_clusters_take_the_heap_path_and_agree() {
        let m = Membership::voters_only((1..=11).map(NodeId)).unwrap();
        assert_eq!(m.committed_index(|id| LogIndex(id.0)), LogIndex(6));
    }

    #[test]
    fn joint_commit_needs_both_halves() {
        let old = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        let joint = old
            .enter_joint(&MembershipChange { voters: ids(&[3, 4, 5]), learners: vec![], addresses: vec![] })
            .unwrap();
        assert!(joint.is_joint());
        // Old half is far ahead, new half lags: the new half decides.
        let acked = |id: NodeId| LogIndex(if id.0 <= 3 { 10 } else { 2 });
        assert_eq!(joint.committed_index(acked), LogIndex(10).min(LogIndex(2)));
        let v = joint.vote_result(|id| Some(id.0 <= 3));
        assert_eq!(v, VoteResult::Lost);
        let v = joint.vote_result(|id| if id.0 == 3 || id.0 == 2 || id.0 == 4 { Some(true) } else { None });
        assert_eq!(v, VoteResult::Won);
        assert_eq!(joint.leave_joint().voters(), &ids(&[3, 4, 5])[..]);
        assert!(!joint.leave_joint().is_joint());
    }

    #[test]
    fn votes_pending_until_decided() {
        let m = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        assert_eq!(m.vote_result(|id| (id.0 == 1).then_some(true)), VoteResult::Pending);
        assert_eq!(m.vote_result(|id| (id.0 != 3).then_some(false)), VoteResult::Lost);
        assert_eq!(m.vote_result(|id| (id.0 != 3).then_some(true)), VoteResult::Won);
    }

    #[test]
    fn invalid_configurations_are_errors() {
        assert_eq!(Membership::voters_only(vec![]), Err(MembershipError::NoVoters));
        assert_eq!(Membership::new(ids(&[1, 2]), ids(&[2])), Err(MembershipError::VoterAndLearner(NodeId(2))));
    }

    #[test]
    fn demoted_voter_stays_outgoing_voter_until_leave() {
        let old = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        let change = MembershipChange { voters: ids(&[1, 2]), learners: ids(&[3]), addresses: vec![] };
        let joint = old.enter_joint(&change).unwrap();
        assert!(joint.is_voter(NodeId(3)));
        assert!(joint.learners().is_empty());
        let done = joint.leave_joint();
        assert!(!done.is_voter(NodeId(3)));
        assert_eq!(done.learners(), &ids(&[3])[..]);
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let old = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        let joint = old
            .enter_joint(&MembershipChange { voters: ids(&[2, 3, 4]), learners: ids(&[9]), addresses: vec![] })
            .unwrap();
        let bytes = joint.encode();
        assert_eq!(bytes.len(), joint.encoded_len());
        assert_eq!(Membership::decode(&mut bytes.clone()).unwrap(), joint);
        for cut in 0..bytes.len() {
            assert!(Membership::decode(&mut bytes.slice(..cut)).is_err(), "cut at {cut}");
        }
        // A length claiming four billion ids must not allocate.
        let mut huge = BytesMut::new();
        huge.put_u32_le(u32::MAX);
        assert_eq!(Membership::decode(&mut huge.freeze()), Err(MembershipError::Malformed));
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert_eq!(Membership::decode_exact(&trailing), Err(MembershipError::Malformed));
        assert_eq!(Membership::decode_exact(&bytes).unwrap(), joint);
    }

    #[test]
    fn members_lists_each_node_once() {
        let old = Membership::voters_only(ids(&[1, 2, 3])).unwrap();
        let joint = old
            .enter_joint(&MembershipChange { voters: ids(&[2, 3, 4]), learners: ids(&[7]), addresses: vec![] })
            .unwrap();
        let mut all: Vec<_> = joint.members().collect();
        all.sort();
        assert_eq!(all, ids(&[1, 2, 3, 4, 7]));
    }
}
