//! What a replica hands its caller through `poll_output`, apart from the
//! messages its leader decides to send: the next write, the messages that
//! write releases, a snapshot to restore, committed entries, answered
//! reads and events. One implementation under Raft and Multi-Paxos, so
//! the order the caller must act in (write, then send; restore, then
//! apply) is written once, and so is [`Outbox::has_output`], next to the
//! code whose output it predicts.

use super::durability::Durability;
use super::log::StableLog;
use super::{Event, HardState, LogRead, Output, ReadState, Snapshot};
use alloc::vec::Vec;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// A snapshot received from the leader, for the service to restore.
    pub restore: Option<Snapshot>,
    /// Entries the leader asks to read back from storage.
    pub log_reads: Vec<LogRead>,
    /// Reads answered (served or failed) since the last poll.
    pub reads: Vec<ReadState>,
    /// Role and membership changes since the last poll.
    pub events: Vec<Event>,
}

impl Outbox {
    /// Moves everything ready into `out`, after whatever the protocol put
    /// there itself.
    pub fn drain(&mut self, log: &mut StableLog, durability: &mut Durability, hs: HardState, out: &mut Output) {
        if let Some(p) = durability.take_write(log, hs) {
            match &mut out.persist {
                Some(existing) => existing.merge(p),
                slot => *slot = Some(p),
            }
        }
        durability.take_messages(&mut out.messages);
        out.log_reads.append(&mut self.log_reads);
        if let Some(snap) = self.restore.take() {
            // Entries handed out earlier in this batch are covered by it.
            out.committed.clear();
            out.restore = Some(snap);
        }
        log.take_committed(&mut out.committed);
        out.reads.append(&mut self.reads);
        out.events.append(&mut self.events);
    }

    /// True if [`Outbox::drain`] would put anything into `out`: one clause
    /// per step of it, in its order.
    pub fn has_output(&self, log: &StableLog, durability: &Durability, hs: HardState) -> bool {
        log.has_unstable()
            || durability.wants_write(hs)
            || durability.has_messages()
            || !self.log_reads.is_empty()
            || self.restore.is_some()
            || log.has_committed()
            || !self.reads.is_empty()
            || !self.events.is_empty()
    }
}
