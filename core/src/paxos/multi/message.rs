//! Multi-Paxos messages: phase 1 once for every open slot, phase 2 in
//! batches of slots (PMMC §3; PML §3 "Multi-Paxos").

use crate::id::{Ballot, LogIndex};
use crate::replica::Entry;
pub use crate::replica::{SnapshotChunk, SnapshotResponse};
use alloc::vec::Vec;

/// A Multi-Paxos message: a ballot and what it says.
///
/// Requests (prepare, accept, heartbeat, snapshot) carry the sender's own
/// ballot; answers carry the ballot they answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Message {
    /// The sender's ballot, or the one answered.
    pub ballot: Ballot,
    /// The content.
    pub body: Body,
}

/// The content of a Multi-Paxos message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Body {
    /// Phase 1a for every slot above the candidate's commit index.
    Prepare(Prepare),
    /// Phase 1b: the acceptor promised, and reports what it accepted.
    Promise(Promise),
    /// The acceptor refused the ballot.
    Nack(Nack),
    /// Phase 2a for a batch of consecutive slots; also carries the
    /// leader's commit index.
    Accept(Accept),
    /// Phase 2b.
    Accepted(Accepted),
    /// The leader's liveness, commit index and read round.
    Heartbeat(Heartbeat),
    /// The answer to a [`Body::Heartbeat`].
    HeartbeatResponse(HeartbeatResponse),
    /// One chunk of a snapshot, for an acceptor behind the leader's log.
    Snapshot(SnapshotChunk),
    /// The answer to a [`Body::Snapshot`] chunk.
    SnapshotResponse(SnapshotResponse),
    /// The leader hands over: campaign now (leadership transfer, as Raft
    /// thesis §3.10's TimeoutNow). Carries the leader's ballot.
    TimeoutNow,
}

/// Phase 1a.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Prepare {
    /// The candidate's commit index: it asks about every slot above.
    pub commit: LogIndex,
    /// Set when the leader of this ballot asked the candidate to take
    /// over ([`Body::TimeoutNow`]): an acceptor that follows exactly that
    /// ballot promises although it heard from its leader recently, since
    /// the leader gave up its lease when it asked.
    pub transfer: Option<Ballot>,
}

/// Phase 1b.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Promise {
    /// The acceptor's commit index.
    pub commit: LogIndex,
    /// Every slot above the prepare's commit index that the acceptor has
    /// accepted a value in, ascending, each with its accepted ballot
    /// (packed in `term`). Slots it never accepted in are left out.
    pub entries: Vec<Entry>,
}

/// Why a ballot was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum NackReason {
    /// A higher ballot was promised (`promised`): retry above it.
    Stale = 0,
    /// The acceptor heard from a live leader within an election timeout
    /// and will not help replace it (this is what makes leases safe).
    LeaderAlive = 1,
    /// The candidate's commit index is below the acceptor's snapshot (or
    /// too far behind): it cannot learn what it must re-propose.
    Behind = 2,
}

impl NackReason {
    /// The reason for a wire tag, if known.
    pub fn from_u8(tag: u8) -> Option<NackReason> {
        match tag {
            0 => Some(NackReason::Stale),
            1 => Some(NackReason::LeaderAlive),
            2 => Some(NackReason::Behind),
            _ => None,
        }
    }
}

/// A refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Nack {
    /// The highest ballot the acceptor promised.
    pub promised: Ballot,
    /// Why.
    pub reason: NackReason,
}

/// Phase 2a for consecutive slots.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Accept {
    /// Values for consecutive slots, each stamped with the message's
    /// ballot (packed in `term`). Empty for a commit notice.
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub commit: LogIndex,
}

/// Phase 2b.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Accepted {
    /// Every slot up to here holds, durably, either a value the acceptor
    /// knows is chosen or the value it accepted in the message's ballot.
    pub match_index: LogIndex,
}

/// A leader's heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Heartbeat {
    /// The leader's commit index.
    pub commit: LogIndex,
    /// The read round this heartbeat confirms.
    pub read_round: u64,
}

/// The answer to a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HeartbeatResponse {
    /// The read round being confirmed.
    pub read_round: u64,
    /// As in [`Accepted::match_index`].
    pub match_index: LogIndex,
}

impl Message {
    /// Approximate size on the wire.
    pub fn size(&self) -> usize {
        24 + match &self.body {
            Body::Promise(p) => 16 + p.entries.iter().map(Entry::size).sum::<usize>(),
            Body::Accept(a) => 16 + a.entries.iter().map(Entry::size).sum::<usize>(),
            Body::Snapshot(s) => 48 + s.data.len() + 8 * s.meta.membership.members().count(),
            _ => 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{NodeId, Term};
    use crate::replica::Membership;
    use crate::replica::SnapshotMeta;
    use alloc::vec;
    use bytes::Bytes;

    #[test]
    fn nack_reasons_round_trip_their_tags() {
        for r in [NackReason::Stale, NackReason::LeaderAlive, NackReason::Behind] {
            assert_eq!(NackReason::from_u8(r as u8), Some(r));
        }
        assert_eq!(NackReason::from_u8(3), None);
    }

    #[test]
    fn sizes_grow_with_what_a_message_carries() {
        let ballot = Ballot::new(1, NodeId(1));
        let m = |body| Message { ballot, body };
        let e = Entry::command(LogIndex(1), Term(1), Bytes::from(vec![0u8; 100]));
        let small = m(Body::Accepted(Accepted { match_index: LogIndex(1) })).size();
        let accept = m(Body::Accept(Accept { entries: vec![e.clone(), e.clone()], commit: LogIndex(0) })).size();
        let promise = m(Body::Promise(Promise { commit: LogIndex(0), entries: vec![e.clone()] })).size();
        assert!(accept >= 2 * e.size() && accept > promise && promise >= e.size() && promise > small);
        let meta = SnapshotMeta {
            index: LogIndex(1),
            term: Term(1),
            membership: Membership::voters_only([NodeId(1), NodeId(2)]).unwrap(),
        };
        let chunk = SnapshotChunk { meta, offset: 0, data: Bytes::from(vec![0u8; 500]), done: true };
        assert!(m(Body::Snapshot(chunk.clone())).size() > 500);
        assert!(small > 0);
        // Golden values: batching limits depend on them.
        assert_eq!((small, e.size()), (48, 124));
        assert_eq!((accept, promise), (24 + 16 + 248, 24 + 16 + 124));
        assert_eq!(m(Body::Snapshot(chunk)).size(), 24 + 48 + 500 + 16);
    }
}
