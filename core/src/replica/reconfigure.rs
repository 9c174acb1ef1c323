//! The operator's membership steps — add a learner, promote it, remove a
//! member — turned into the [`MembershipChange`] a leader proposes. Each
//! step is planned against the configuration the leader has in force, so
//! a step asked of a stale node cannot undo a change it has not seen, and
//! repeating a step that already took effect changes nothing (a client
//! retrying after a timeout is safe).
//!
//! The recipe to replace a member, including one that lost its disk (it
//! must never vote again under its old id, having forgotten its vote and
//! log): add the new machine as a learner under a fresh id, let it catch
//! up, promote it, then remove the old id — each step one joint-consensus
//! change (thesis §4.3), so every quorum overlaps the one before it.

use super::membership::{Membership, MembershipChange, MembershipError};
use crate::id::NodeId;
use alloc::vec::Vec;
use bytes::Bytes;

/// One membership step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberStep {
    /// Add `id`, reachable at `address`, as a learner: it receives the log
    /// but does not vote (thesis §4.2.1).
    AddLearner {
        /// The new member.
        id: NodeId,
        /// Where peers reach it.
        address: Bytes,
    },
    /// Make learner `id` a voter.
    Promote {
        /// The learner.
        id: NodeId,
    },
    /// Remove `id`, voter or learner.
    Remove {
        /// The member.
        id: NodeId,
    },
    /// Make learner `new` a voter and remove voter `old`, in one joint
    /// change: a three-voter cluster replacing a machine stays at three
    /// voters instead of passing through four (ZooKeeper's dynamic
    /// reconfiguration takes such incremental changes in one step too).
    /// Only joint consensus makes this safe: `{1,2,3}` and `{1,2,4}` have
    /// disjoint majorities (`{2,3}`, `{1,4}`), so without the joint phase
    /// each half could elect a leader and commit on its own (thesis §4.3).
    Replace {
        /// The voter that leaves.
        old: NodeId,
        /// The learner that takes its place.
        new: NodeId,
    },
}

/// Why a step cannot be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// A change is still in flight (joint); try again once it is left.
    #[error("a membership change is in progress")]
    ChangePending,
    /// `id` is already a member at another address.
    #[error("node {0} is already a member, at another address")]
    AlreadyMember(NodeId),
    /// Only a learner can be promoted.
    #[error("node {0} is not a member")]
    NotMember(NodeId),
    /// A replacement names a voter to leave that is not one, a learner to
    /// take its place that is not one, or the same node twice.
    #[error("replace takes a voter ({old}) to remove and a learner ({new}) to promote")]
    NotReplaceable {
        /// The voter asked to leave.
        old: NodeId,
        /// The learner asked to take its place.
        new: NodeId,
    },
    /// The last voter cannot be removed.
    #[error("node {0} is the last voter")]
    LastVoter(NodeId),
    /// The resulting configuration is invalid.
    #[error(transparent)]
    Invalid(#[from] MembershipError),
}

impl Membership {
    /// The change that takes `step` from this configuration, or `None`
    /// if it already took effect.
    pub fn plan(&self, step: &MemberStep) -> Result<Option<MembershipChange>, StepError> {
        if self.is_joint() {
            return Err(StepError::ChangePending);
        }
        let mut voters: Vec<NodeId> = self.voters().to_vec();
        let mut learners: Vec<NodeId> = self.learners().to_vec();
        let mut addresses = Vec::new();
        match step {
            MemberStep::AddLearner { id, address } => {
                if self.contains(*id) {
                    return match self.address(*id) {
                        Some(a) if a == address => Ok(None),
                        _ => Err(StepError::AlreadyMember(*id)),
                    };
                }
                if address.len() > super::membership::MAX_ADDRESS_LEN {
                    return Err(MembershipError::AddressTooLong(*id).into());
                }
                learners.push(*id);
                addresses.push((*id, address.clone()));
            }
            MemberStep::Promote { id } => {
                if self.is_voter(*id) {
                    return Ok(None);
                }
                if !self.contains(*id) {
                    return Err(StepError::NotMember(*id));
                }
                learners.retain(|l| l != id);
                voters.push(*id);
            }
            MemberStep::Remove { id } => {
                if !self.contains(*id) {
                    return Ok(None);
                }
                if self.voters() == [*id] {
                    return Err(StepError::LastVoter(*id));
                }
                voters.retain(|v| v != id);
                learners.retain(|l| l != id);
            }
            MemberStep::Replace { old, new } => {
                if self.is_voter(*new) && !self.contains(*old) {
                    return Ok(None);
                }
                let learner = self.contains(*new) && !self.is_voter(*new);
                if old == new || !self.is_voter(*old) || !learner {
                    return Err(StepError::NotReplaceable { old: *old, new: *new });
                }
                learners.retain(|l| l != new);
                voters.retain(|v| v != old);
                voters.push(*new);
            }
        }
        Ok(Some(MembershipChange { voters, learners, addresses }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn three() -> Membership {
        let addrs = (1..=3).map(|i| (NodeId(i), Bytes::from(alloc::format!("10.0.0.{i}:7000"))));
        Membership::voters_only((1..=3).map(NodeId)).unwrap().with_addresses(addrs).unwrap()
    }

    fn apply(m: &Membership, step: &MemberStep) -> Membership {
        let change = m.plan(step).unwrap().expect("a change");
        m.enter_joint(&change).unwrap().leave_joint()
    }

    #[test]
    fn replace_a_member_by_learner_promote_remove() {
        let m = three();
        let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"10.0.0.4:7000") };
        let m = apply(&m, &add);
        assert_eq!(m.learners(), &[NodeId(4)]);
        assert_eq!(m.address(NodeId(4)).map(|a| &a[..]), Some(&b"10.0.0.4:7000"[..]));
        // Adding a learner does not change the voters: no joint phase.
        assert!(!m.enter_joint(&three().plan(&add).unwrap().unwrap()).unwrap().is_joint());
        let promote = MemberStep::Promote { id: NodeId(4) };
        let joint = m.enter_joint(&m.plan(&promote).unwrap().unwrap()).unwrap();
        assert!(joint.is_joint(), "a new voter goes through joint consensus");
        let m = joint.leave_joint();
        assert_eq!(m.voters(), &[NodeId(1), NodeId(2), NodeId(3), NodeId(4)]);
        let remove = MemberStep::Remove { id: NodeId(1) };
        let joint = m.enter_joint(&m.plan(&remove).unwrap().unwrap()).unwrap();
        // The leaving voter's address stays while it votes in the old half.
        assert!(joint.address(NodeId(1)).is_some());
        let m = joint.leave_joint();
        assert_eq!(m.voters(), &[NodeId(2), NodeId(3), NodeId(4)]);
        assert!(m.address(NodeId(1)).is_none(), "a removed member's address goes with it");
        assert_eq!(m.addresses().len(), 3);
    }

    #[test]
    fn replace_swaps_a_voter_for_a_learner_in_one_joint_change() {
        let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"10.0.0.4:7000") };
        let m = apply(&three(), &add);
        let replace = MemberStep::Replace { old: NodeId(2), new: NodeId(4) };
        let joint = m.enter_joint(&m.plan(&replace).unwrap().unwrap()).unwrap();
        assert!(joint.is_joint(), "disjoint majorities: only safe through the joint phase");
        let done = joint.leave_joint();
        assert_eq!(done.voters(), &[NodeId(1), NodeId(3), NodeId(4)]);
        assert!(done.learners().is_empty());
        assert!(done.address(NodeId(2)).is_none());
        assert_eq!(done.plan(&replace), Ok(None), "a repeated replacement changes nothing");
        // Refused, naming the pair: a new node that is no member, the same
        // node twice, a learner asked to leave, a voter asked to come in.
        for (old, new) in [(1, 9), (4, 4), (4, 3), (2, 3)] {
            let step = MemberStep::Replace { old: NodeId(old), new: NodeId(new) };
            assert_eq!(m.plan(&step), Err(StepError::NotReplaceable { old: NodeId(old), new: NodeId(new) }));
        }
    }

    #[test]
    fn repeated_steps_change_nothing() {
        let m = three();
        let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"a:1") };
        let m = apply(&m, &add);
        assert_eq!(m.plan(&add), Ok(None));
        let other = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"b:1") };
        assert_eq!(m.plan(&other), Err(StepError::AlreadyMember(NodeId(4))));
        assert_eq!(m.plan(&MemberStep::Promote { id: NodeId(1) }), Ok(None));
        assert_eq!(m.plan(&MemberStep::Remove { id: NodeId(9) }), Ok(None));
        assert_eq!(m.plan(&MemberStep::Promote { id: NodeId(9) }), Err(StepError::NotMember(NodeId(9))));
    }

    #[test]
    fn refuses_the_last_voter_a_joint_configuration_and_long_addresses() {
        let one = Membership::voters_only([NodeId(1)]).unwrap();
        assert_eq!(one.plan(&MemberStep::Remove { id: NodeId(1) }), Err(StepError::LastVoter(NodeId(1))));
        let m = three();
        let joint =
            m.enter_joint(&MembershipChange { voters: vec![NodeId(1), NodeId(2)], ..Default::default() }).unwrap();
        assert_eq!(joint.plan(&MemberStep::Promote { id: NodeId(3) }), Err(StepError::ChangePending));
        let long = Bytes::from(vec![b'a'; super::super::membership::MAX_ADDRESS_LEN + 1]);
        let add = MemberStep::AddLearner { id: NodeId(5), address: long };
        assert_eq!(m.plan(&add), Err(StepError::Invalid(MembershipError::AddressTooLong(NodeId(5)))));
    }

    #[test]
    fn addresses_survive_encoding_and_old_encodings_still_decode() {
        let m = apply(&three(), &MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"h:4") });
        let bytes = m.encode();
        assert_eq!(bytes.len(), m.encoded_len());
        assert_eq!(Membership::decode_exact(&bytes), Ok(m.clone()));
        for cut in 0..bytes.len() {
            assert!(Membership::decode_exact(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Without addresses the encoding is byte for byte the old one.
        let plain = Membership::voters_only((1..=3).map(NodeId)).unwrap();
        let mut old = BytesMut::new();
        for list in [&[1u64, 2, 3][..], &[], &[], &[]] {
            old.put_u32_le(list.len() as u32);
            for id in list {
                old.put_u64_le(*id);
            }
        }
        assert_eq!(plain.encode(), old.freeze());
    }

    #[test]
    fn forged_address_lists_are_malformed() {
        let m = three();
        let good = m.encode().to_vec();
        // The address count sits right after the four lists.
        let at = 4 + 16 + 8 * 3;
        let mut huge = good.clone();
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Membership::decode_exact(&huge), Err(MembershipError::Malformed));
        // An address for a non-member.
        let mut stranger = good.clone();
        stranger[at + 4..at + 12].copy_from_slice(&99u64.to_le_bytes());
        assert_eq!(Membership::decode_exact(&stranger), Err(MembershipError::Malformed));
        // A length past the cap.
        let mut long = good;
        long[at + 12..at + 14].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Membership::decode_exact(&long), Err(MembershipError::Malformed));
    }

    use bytes::{BufMut, BytesMut};
}
