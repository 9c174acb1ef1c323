//! Linearizable reads without writing to the log: ReadIndex (thesis §6.4)
//! and leader leases (thesis §6.4.1).
//!
//! ReadIndex: the leader notes its commit index, confirms with a quorum
//! that it was still leader *after* the read arrived (a heartbeat round),
//! and releases the read at that index. Every write acknowledged before
//! the read began is at or below it, and no newer leader can have
//! committed anything before the round (its voters would have left our
//! term first), so the read is linearizable.
//!
//! Lease: followers refuse to help elect anyone for an election timeout
//! after hearing from the leader (check-quorum), so once a quorum confirmed
//! a round sent at `t`, no other leader exists before `t + election
//! timeout` by the slowest clock; less the drift bound, the leader may
//! answer reads until then without a round.

use super::Raft;

impl Raft {
    /// Thesis §6.4 step 1: until an entry of its own term is committed, a
    /// new leader does not know the full commit index.
    pub(super) fn can_serve_reads(&self) -> bool {
        self.log.term(self.log.commit) == Some(self.term)
    }
}
