//! The one message type every replica speaks, so drivers, transports and
//! the simulator move messages without knowing which protocol runs.

use crate::paxos::multi;
use crate::raft;

/// A protocol message between replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Raft.
    Raft(raft::Message),
    /// Multi-Paxos.
    MultiPaxos(multi::Message),
}

impl Message {
    /// Approximate bytes on the wire, for batching and back-pressure.
    pub fn size(&self) -> usize {
        match self {
            Message::Raft(m) => m.size(),
            Message::MultiPaxos(m) => m.size(),
        }
    }
}
