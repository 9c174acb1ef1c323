//! The leader's view of each follower (thesis §3.5; the probe / replicate /
//! snapshot states follow etcd's raft design).

use crate::id::{LogIndex, NodeId};
use crate::replica::progress::Inflights;
pub(super) use crate::replica::progress::State;
use crate::replica::snapshot_transfer::ChunkWindow;
use crate::time::Instant;

#[derive(Debug)]
pub(super) struct Progress {
    pub id: NodeId,
    pub voter: bool,
    /// Highest index known to match the leader's log, durably.
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    pub state: State,
    /// In `Probe`, an append is outstanding: wait for its answer or a heartbeat.
    pub probe_sent: bool,
    pub inflights: Inflights,
    /// Heard from since the last check-quorum round (thesis §6.2).
    pub recent_active: bool,
    pub last_heard: Option<Instant>,
    /// Highest read round the follower confirmed (thesis §6.4).
    pub read_round: u64,
    /// An (even empty) append should go out to learn where the follower is.
    pub needs_probe: bool,
}

impl Progress {
    pub fn new(id: NodeId, voter: bool, next_index: LogIndex, max_inflight: usize) -> Self {
        Progress {
            id,
            voter,
            match_index: LogIndex(0),
            next_index,
            state: State::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            recent_active: false,
            last_heard: None,
            read_round: 0,
            needs_probe: true,
        }
    }

    /// True if no append may be sent now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            State::Probe => self.probe_sent,
            State::Replicate => self.inflights.is_full(),
            State::Snapshot { .. } => true,
        }
    }

    pub fn become_probe(&mut self) {
        // Resume after a snapshot from just past it; otherwise from just
        // past what is known to match.
        self.next_index = match self.state {
            State::Snapshot { index, .. } => self.match_index.max(index).next(),
            _ => self.match_index.next(),
        };
        self.state = State::Probe;
        self.probe_sent = false;
        self.inflights.clear();
    }

    pub fn become_replicate(&mut self) {
        self.state = State::Replicate;
        self.next_index = self.match_index.next();
        self.probe_sent = false;
        self.inflights.clear();
    }

    pub fn become_snapshot(&mut self, index: LogIndex) {
        self.state = State::Snapshot { index, window: ChunkWindow::default() };
        self.probe_sent = false;
        self.inflights.clear();
    }

    /// Records an acknowledgement; false if it told nothing new.
    pub fn maybe_update(&mut self, index: LogIndex) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        if self.next_index <= index {
            self.next_index = index.next();
        }
        updated
    }

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

    #[test]
    fn inflight_window_fills_and_frees_in_order() {
        let mut f = Inflights::new(2);
        f.add(LogIndex(5));
        assert!(!f.is_full());
        f.add(LogIndex(9));
        assert!(f.is_full());
        f.free_to(LogIndex(6));
        assert!(!f.is_full());
        f.add(LogIndex(12));
        f.free_first();
        f.free_to(LogIndex(11));
        assert!(!f.is_full());
        f.free_to(LogIndex(12));
        assert_eq!(f.len(), 0);
    }

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

    #[test]
    fn every_change_of_state_empties_the_window() {
        // What was in flight belonged to the old way of sending; keeping it
        // would leave the new state with a window that never frees.
        for to in
            [State::Probe, State::Replicate, State::Snapshot { index: LogIndex(9), window: ChunkWindow::default() }]
        {
            let mut p = Progress::new(NodeId(2), true, LogIndex(1), 2);
            p.become_replicate();
            p.inflights.add(LogIndex(3));
            p.inflights.add(LogIndex(5));
            assert!(p.inflights.is_full());
            match to {
                State::Probe => p.become_probe(),
                State::Replicate => p.become_replicate(),
                State::Snapshot { index, .. } => p.become_snapshot(index),
            }
            assert!(!p.inflights.is_full(), "after {to:?}");
        }
    }

    #[test]
    fn updates_only_move_forward() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(5), 4);
        assert!(p.maybe_update(LogIndex(4)));
        assert!(!p.maybe_update(LogIndex(4)), "the same index again is nothing new");
        assert!(!p.maybe_update(LogIndex(3)));
        assert_eq!(p.match_index, LogIndex(4));
        assert_eq!(p.next_index, LogIndex(5));
    }

    #[test]
    fn leaving_snapshot_resumes_after_it() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(1), 4);
        p.become_snapshot(LogIndex(50));
        assert!(p.is_paused());
        p.become_probe();
        assert_eq!(p.next_index, LogIndex(51));
    }
}
