//! How a Raft leader moves its view of a follower back on a rejection
//! (§5.3, with the fast back-off of thesis §3.5); the view itself is
//! shared with Multi-Paxos (`replica::progress`).

use crate::id::LogIndex;
pub(super) use crate::replica::progress::{Progress, State};

/// Raft's rule for moving back on a rejection (§5.3).
impl Progress {
    /// Handles a rejection of the append at `rejected`; the follower's
    /// answer suggests resuming at `probe_from`. False if the rejection is
    /// stale (answers an append already superseded).
    pub fn maybe_decrease(&mut self, rejected: LogIndex, probe_from: LogIndex) -> bool {
        match self.state {
            State::Replicate => {
                if rejected <= self.match_index {
                    return false;
                }
                self.become_probe();
                self.next_index = probe_from.min(rejected).max(self.match_index.next());
                true
            }
            State::Probe => {
                // Only the answer to the outstanding probe counts.
                if self.next_index.prev() != rejected {
                    return false;
                }
                self.next_index = probe_from.min(rejected).max(self.match_index.next());
                self.probe_sent = false;
                true
            }
            State::Snapshot { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;

    #[test]
    fn probe_pauses_after_one_append_and_ignores_stale_rejections() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(11), 4);
        assert!(!p.is_paused());
        p.probe_sent = true;
        assert!(p.is_paused());
        // A rejection of some older probe changes nothing.
        assert!(!p.maybe_decrease(LogIndex(7), LogIndex(3)));
        assert!(p.is_paused());
        assert!(p.maybe_decrease(LogIndex(10), LogIndex(4)));
        assert_eq!(p.next_index, LogIndex(4));
        assert!(!p.is_paused());
    }

    #[test]
    fn replicate_rejection_below_match_is_stale() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(1), 4);
        assert!(p.maybe_update(LogIndex(8)));
        p.become_replicate();
        p.next_index = LogIndex(20);
        assert!(!p.maybe_decrease(LogIndex(8), LogIndex(2)));
        assert!(p.maybe_decrease(LogIndex(15), LogIndex(12)));
        assert_eq!(p.state, State::Probe);
        assert_eq!(p.next_index, LogIndex(12));
        // Never probe below what is known to match.
        let mut q = Progress::new(NodeId(3), true, LogIndex(1), 4);
        q.maybe_update(LogIndex(8));
        q.become_replicate();
        q.next_index = LogIndex(20);
        q.maybe_decrease(LogIndex(15), LogIndex(2));
        assert_eq!(q.next_index, LogIndex(9));
    }
}
