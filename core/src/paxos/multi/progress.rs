//! The leader's view of each acceptor: what it holds, what to send next.

use crate::id::{LogIndex, NodeId};
use crate::replica::snapshot_transfer::ChunkWindow;
use crate::time::Instant;
use alloc::collections::VecDeque;

/// How the leader is currently sending to an acceptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Where the acceptor stands is unknown: one batch at a time until one
    /// is answered.
    Probe,
    /// The acceptor keeps up: stream batches, up to a window in flight.
    Replicate,
    /// The acceptor needs slots already compacted: stream a snapshot.
    Snapshot {
        /// The snapshot's last index.
        index: LogIndex,
        /// Chunks sent and confirmed.
        window: ChunkWindow,
    },
}

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
    pub inflights: VecDeque<LogIndex>,
    max_inflight: usize,
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
            inflights: VecDeque::new(),
            max_inflight,
            probe_sent: false,
            match_at_heartbeat: LogIndex(0),
            last_heard: None,
            recent_active: false,
            read_round: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.inflights.len() >= self.max_inflight
    }

    /// Frees every batch the acceptor's `match_index` covers.
    pub fn free_to(&mut self, index: LogIndex) {
        while self.inflights.front().is_some_and(|l| *l <= index) {
            self.inflights.pop_front();
        }
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
        p.inflights.push_back(LogIndex(12));
        p.become_probe();
        assert_eq!((p.next_index, p.inflights.len()), (LogIndex(5), 0));
        p.next_index = LogIndex(3);
        p.become_replicate();
        assert_eq!(p.next_index, LogIndex(5), "never resend below the match");
        p.inflights.extend([LogIndex(6), LogIndex(8)]);
        assert!(p.is_full());
        p.free_to(LogIndex(7));
        assert!(!p.is_full());
        p.become_snapshot(LogIndex(50));
        assert_eq!(p.state, State::Snapshot { index: LogIndex(50), window: ChunkWindow::default() });
    }
}
