//! The leader's view of each acceptor: what it holds, what to send next.

use crate::id::{LogIndex, NodeId};
use crate::replica::progress::Inflights;
pub(super) use crate::replica::progress::State;
use crate::replica::snapshot_transfer::ChunkWindow;
use crate::time::Instant;

#[derive(Debug)]
pub(super) struct Progress {
    pub id: NodeId,
    pub voter: bool,
    /// Every slot up to here is chosen there or accepted in our ballot.
    pub match_index: LogIndex,
    /// Next slot to send.
    pub next_index: LogIndex,
    pub state: State,
    /// Last slot of each batch in flight (Replicate).
    pub inflights: Inflights,
    /// A probe is in flight (Probe).
    pub probe_sent: bool,
    /// `match_index` at the previous heartbeat answer: no progress between
    /// two answers with slots outstanding means a batch was lost.
    pub match_at_heartbeat: LogIndex,
    pub last_heard: Option<Instant>,
    /// Heard from since the last quorum check.
    pub recent_active: bool,
    /// The latest read round it confirmed.
    pub read_round: u64,
}

impl Progress {
    pub fn new(id: NodeId, voter: bool, next: LogIndex, max_inflight: usize) -> Self {
        Progress {
            id,
            voter,
            match_index: LogIndex(0),
            next_index: next,
            state: State::Probe,
            inflights: Inflights::new(max_inflight),
            probe_sent: false,
            match_at_heartbeat: LogIndex(0),
            last_heard: None,
            recent_active: false,
            read_round: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.inflights.is_full()
    }

    /// Frees every batch the acceptor's `match_index` covers.
    pub fn free_to(&mut self, index: LogIndex) {
        self.inflights.free_to(index);
    }

    /// Starts over from what the acceptor is known to hold.
    pub fn become_probe(&mut self) {
        self.state = State::Probe;
        self.next_index = self.match_index.next();
        self.inflights.clear();
        self.probe_sent = false;
    }

    pub fn become_replicate(&mut self) {
        self.state = State::Replicate;
        self.next_index = self.next_index.max(self.match_index.next());
        self.probe_sent = false;
    }

    pub fn become_snapshot(&mut self, index: LogIndex) {
        self.state = State::Snapshot { index, window: ChunkWindow::default() };
        self.inflights.clear();
        self.probe_sent = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_restarts_from_the_match_and_replication_streams_past_it() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(10), 2);
        p.match_index = LogIndex(4);
        p.inflights.add(LogIndex(12));
        p.become_probe();
        assert_eq!((p.next_index, p.inflights.len()), (LogIndex(5), 0));
        p.next_index = LogIndex(3);
        p.become_replicate();
        assert_eq!(p.next_index, LogIndex(5), "never resend below the match");
        p.inflights.add(LogIndex(6));
        p.inflights.add(LogIndex(8));
        assert!(p.is_full());
        p.free_to(LogIndex(7));
        assert!(!p.is_full());
        p.become_snapshot(LogIndex(50));
        assert_eq!(p.state, State::Snapshot { index: LogIndex(50), window: ChunkWindow::default() });
    }
}
