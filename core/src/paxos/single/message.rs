//! The synod protocol's messages (PMS §2.2–2.3).

use crate::id::Ballot;
use bytes::Bytes;

/// A single-decree Paxos message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Phase 1a: a proposer asks acceptors to promise `ballot`.
    Prepare {
        /// The proposer's ballot; its node is the sender.
        ballot: Ballot,
    },
    /// Phase 1b: the acceptor promised `ballot` and reports its last
    /// accepted value.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// The last value accepted, with its ballot (at most `ballot`).
        accepted: Option<(Ballot, Bytes)>,
    },
    /// Phase 2a: a proposer asks acceptors to accept `value` in `ballot`.
    Accept {
        /// The proposer's ballot; its node is the sender.
        ballot: Ballot,
        /// The value.
        value: Bytes,
    },
    /// Phase 2b: the acceptor accepted `value` in `ballot`; sent to the
    /// proposer and to every learner (PMS §2.3).
    Accepted {
        /// The ballot.
        ballot: Ballot,
        /// The value accepted.
        value: Bytes,
    },
    /// The acceptor refused `ballot`: it promised `promised`, which is
    /// higher, so the proposer retries above it.
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The highest ballot the acceptor promised.
        promised: Ballot,
    },
    /// The sender learned that `value` is chosen; a node that knows sends
    /// it instead of taking part in further rounds.
    Chosen {
        /// The chosen value.
        value: Bytes,
    },
}

impl Message {
    /// Approximate bytes on the wire.
    pub fn size(&self) -> usize {
        24 + match self {
            Message::Promise { accepted, .. } => accepted.as_ref().map_or(0, |(_, v)| 16 + v.len()),
            Message::Accept { value, .. } | Message::Accepted { value, .. } | Message::Chosen { value } => value.len(),
            Message::Prepare { .. } | Message::Nack { .. } => 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;

    #[test]
    fn sizes_grow_with_the_value() {
        let b = Ballot::new(1, NodeId(1));
        let v = Bytes::from(alloc::vec![0u8; 100]);
        let prepare = Message::Prepare { ballot: b }.size();
        assert!(Message::Accept { ballot: b, value: v.clone() }.size() >= 100 + prepare - 16);
        assert!(Message::Accepted { ballot: b, value: v.clone() }.size() > 100);
        assert!(Message::Chosen { value: v.clone() }.size() > 100);
        assert!(Message::Promise { ballot: b, accepted: Some((b, v)) }.size() > 116);
        assert!(Message::Promise { ballot: b, accepted: None }.size() < prepare + 1);
        assert_eq!(Message::Nack { ballot: b, promised: b }.size(), prepare);
        // Golden values.
        assert_eq!(prepare, 40);
        assert_eq!(Message::Accept { ballot: b, value: Bytes::from_static(b"abc") }.size(), 27);
        assert_eq!(Message::Promise { ballot: b, accepted: Some((b, Bytes::from_static(b"abc"))) }.size(), 43);
    }
}
