//! The learner: a value is chosen once a majority of acceptors accepted it
//! in one ballot (PMS §2.3).

use crate::id::{Ballot, NodeId};
use alloc::vec::Vec;
use bytes::Bytes;

/// Counts acceptances until a majority accepted one ballot.
#[derive(Clone, Debug)]
pub struct Learner {
    acceptors: Vec<NodeId>,
    /// Each acceptor's latest acceptance heard of.
    latest: Vec<(NodeId, Ballot, Bytes)>,
    chosen: Option<Bytes>,
}

impl Learner {
    /// A learner of what `acceptors` choose.
    pub fn new(acceptors: Vec<NodeId>) -> Self {
        Learner { acceptors, latest: Vec::new(), chosen: None }
    }

    /// The chosen value, once learned.
    pub fn chosen(&self) -> Option<&Bytes> {
        self.chosen.as_ref()
    }

    /// An acceptor reports it accepted `value` in `ballot`; returns the
    /// value if this makes it chosen. Only an acceptor's latest acceptance
    /// counts: a later one (always in a higher ballot) supersedes it.
    pub fn handle_accepted(&mut self, from: NodeId, ballot: Ballot, value: Bytes) -> Option<Bytes> {
        if self.chosen.is_some() || !self.acceptors.contains(&from) {
            return None;
        }
        match self.latest.iter_mut().find(|(a, _, _)| *a == from) {
            Some((_, b, _)) if *b >= ballot => return None,
            Some(slot) => *slot = (from, ballot, value.clone()),
            None => self.latest.push((from, ballot, value.clone())),
        }
        let votes = self.latest.iter().filter(|(_, b, _)| *b == ballot).count();
        if votes > self.acceptors.len() / 2 {
            self.learn(value.clone());
            return Some(value);
        }
        None
    }

    /// Another node learned `value`.
    pub fn learn(&mut self, value: Bytes) {
        self.chosen = Some(value);
        self.latest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_majority_in_one_ballot_chooses() {
        let mut l = Learner::new(vec![NodeId(1), NodeId(2), NodeId(3)]);
        let (b1, b2) = (Ballot::new(1, NodeId(1)), Ballot::new(2, NodeId(2)));
        let v = Bytes::from_static(b"v");
        assert_eq!(l.handle_accepted(NodeId(1), b1, v.clone()), None);
        assert_eq!(l.handle_accepted(NodeId(2), b2, v.clone()), None, "two ballots are not a majority");
        assert_eq!(l.handle_accepted(NodeId(2), b1, v.clone()), None, "an older acceptance does not count");
        assert_eq!(l.handle_accepted(NodeId(9), b1, v.clone()), None, "strangers do not vote");
        assert_eq!(l.handle_accepted(NodeId(3), b2, v.clone()), Some(v.clone()));
        assert_eq!(l.chosen(), Some(&v));
        assert_eq!(l.handle_accepted(NodeId(1), b2, v), None, "learned once");
    }

    #[test]
    fn a_later_acceptance_supersedes_and_five_need_three() {
        let five: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let mut l = Learner::new(five);
        let (b1, b2) = (Ballot::new(1, NodeId(1)), Ballot::new(2, NodeId(2)));
        let v = Bytes::from_static(b"v");
        assert_eq!(l.handle_accepted(NodeId(1), b1, v.clone()), None);
        assert_eq!(l.handle_accepted(NodeId(2), b1, v.clone()), None, "two of five");
        assert_eq!(l.handle_accepted(NodeId(1), b2, v.clone()), None);
        assert_eq!(l.handle_accepted(NodeId(2), b2, v.clone()), None);
        assert_eq!(l.handle_accepted(NodeId(3), b2, v.clone()), Some(v), "three of five in ballot 2");
    }
}
