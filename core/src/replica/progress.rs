//! The leader's view of each peer it replicates to, in the parts both
//! protocols share: how it is sending (probe / replicate / snapshot, after
//! etcd's raft design; Raft thesis §3.5) and the messages in flight.

use crate::id::LogIndex;
use crate::replica::snapshot_transfer::ChunkWindow;
use alloc::collections::VecDeque;

/// How the leader is currently sending to a follower (acceptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// The follower's log position is unknown: one append at a time until
    /// one is accepted.
    Probe,
    /// The follower keeps up: stream appends, up to a window in flight.
    Replicate,
    /// The follower needs entries already compacted: stream a snapshot.
    Snapshot {
        /// The snapshot's last index.
        index: LogIndex,
        /// Chunks sent and confirmed.
        window: ChunkWindow,
    },
}

/// What the leader owes one follower (acceptor) now. Each protocol decides
/// it in one function (`due`) that `flush_leader` acts on and `has_output`
/// asks, so the prediction cannot drift from what is sent: the two
/// `has_output` bugs mutation testing once found lived in hand-kept
/// mirrors of the send rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing may go out: it has everything, a probe is outstanding, the
    /// window is full, or the snapshot's chunks all wait for answers.
    Nothing,
    /// Entries (or an empty probe) from its next index.
    Entries,
    /// What it needs is compacted away: a snapshot transfer starts.
    Compacted,
    /// More chunks of the snapshot it is being sent.
    Chunks,
}

/// Messages in flight to one follower (appends; accept batches): the last
/// index each carried.
#[derive(Debug)]
pub(crate) struct Inflights {
    last_indexes: VecDeque<LogIndex>,
    cap: usize,
}

impl Inflights {
    pub fn new(cap: usize) -> Self {
        Inflights { last_indexes: VecDeque::new(), cap }
    }

    pub fn is_full(&self) -> bool {
        self.last_indexes.len() >= self.cap
    }

    pub fn add(&mut self, last: LogIndex) {
        self.last_indexes.push_back(last);
    }

    /// Frees every message acknowledged by `index`.
    pub fn free_to(&mut self, index: LogIndex) {
        while self.last_indexes.front().is_some_and(|l| *l <= index) {
            self.last_indexes.pop_front();
        }
    }

    /// Lets one more message through, when acks may have been lost.
    pub fn free_first(&mut self) {
        self.last_indexes.pop_front();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.last_indexes.len()
    }

    pub fn clear(&mut self) {
        self.last_indexes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_frees_what_an_answer_covers_and_one_more_when_asked() {
        let mut w = Inflights::new(2);
        w.add(LogIndex(6));
        w.add(LogIndex(8));
        assert!(w.is_full());
        w.free_to(LogIndex(7));
        assert!(!w.is_full());
        w.add(LogIndex(9));
        w.free_first();
        assert!(!w.is_full());
        w.clear();
        w.free_to(LogIndex(100));
        assert!(!w.is_full());
    }
}
