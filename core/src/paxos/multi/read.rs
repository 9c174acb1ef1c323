//! Linearizable reads without writing to the log.
//!
//! Read barrier: the leader notes its commit index, then confirms with a
//! quorum — a heartbeat round sent after the read arrived — that no
//! acceptor of that quorum had promised a higher ballot. Any later leader
//! needs a promise from one of them, so it finished phase 1 only after
//! the round, after the read began; and every write acknowledged before
//! the read is at or below the noted index, once the slots recovered at
//! election are chosen (before that, a new leader does not know the full
//! commit index and holds reads back). So the read is linearizable.
//!
//! Lease: an acceptor refuses every other candidate for an election
//! timeout after hearing from the leader (and for one election timeout
//! after a restart, having forgotten whom it heard). Once a quorum
//! confirmed a round sent at `t`, no other leader can finish phase 1
//! before `t + election timeout` by the slowest clock; less the drift
//! bound, the leader may answer reads until then without a round (PML
//! §5.2).

use super::MultiPaxos;
use crate::replica::Role;

impl MultiPaxos {
    /// Until the slots recovered at election are chosen, a new leader does
    /// not know that its commit index covers every acknowledged write.
    pub(super) fn can_serve_reads(&self) -> bool {
        self.role == Role::Leader && self.log.commit >= self.recovery_end
    }
}
