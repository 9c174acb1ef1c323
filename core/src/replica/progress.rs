//! The leader's view of each peer it replicates to, in the parts both
//! protocols share: how it is sending (probe / replicate / snapshot, after
//! etcd's raft design; Raft thesis §3.5) and the messages in flight.

use crate::id::{LogIndex, NodeId};
use crate::replica::snapshot_transfer::ChunkWindow;
use crate::replica::{Membership, PeerStatus};
use crate::time::Instant;
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

/// The leader's view of one follower (acceptor).
#[derive(Debug)]
pub(crate) struct Progress {
    pub id: NodeId,
    pub voter: bool,
    /// Highest index known to hold what the leader holds, durably (in
    /// Multi-Paxos: every slot up to here is chosen there or accepted in
    /// our ballot).
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    pub state: State,
    /// In `Probe`, one message is outstanding: wait for its answer or a
    /// heartbeat.
    pub probe_sent: bool,
    /// In `Replicate`, the messages in flight.
    pub inflights: Inflights,
    /// The read-back outstanding for it ([`crate::replica::LogRead`]):
    /// from which index, and since when. Nothing more goes out until the
    /// answer comes (or the read is given up).
    pub reading: Option<(LogIndex, Instant)>,
    /// Heard from since the last check-quorum round (Raft thesis §6.2).
    pub recent_active: bool,
    pub last_heard: Option<Instant>,
    /// Highest read round it confirmed (Raft thesis §6.4).
    pub read_round: u64,
    /// Raft: an (even empty) append should go out to learn where the
    /// follower is.
    pub needs_probe: bool,
    /// Multi-Paxos: `match_index` at the previous heartbeat answer; no
    /// progress between two answers with slots outstanding means a batch
    /// was lost.
    pub match_at_heartbeat: LogIndex,
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
            reading: None,
            recent_active: false,
            last_heard: None,
            read_round: 0,
            needs_probe: true,
            match_at_heartbeat: LogIndex(0),
        }
    }

    /// True if no entries may be sent now.
    pub fn is_paused(&self) -> bool {
        if self.reading.is_some() {
            return true;
        }
        match self.state {
            State::Probe => self.probe_sent,
            State::Replicate => self.inflights.is_full(),
            State::Snapshot { .. } => true,
        }
    }

    /// Sends one message at a time until one is accepted: from just past a
    /// snapshot being sent, otherwise from just past what is known to match.
    pub fn become_probe(&mut self) {
        self.next_index = match self.state {
            State::Snapshot { index, .. } => self.match_index.max(index).next(),
            _ => self.match_index.next(),
        };
        self.state = State::Probe;
        self.probe_sent = false;
        self.reading = None;
        self.inflights.clear();
    }

    /// Streams from just past what is known to match.
    pub fn become_replicate(&mut self) {
        self.state = State::Replicate;
        self.next_index = self.match_index.next();
        self.probe_sent = false;
        self.reading = None;
        self.inflights.clear();
    }

    pub fn become_snapshot(&mut self, index: LogIndex) {
        self.state = State::Snapshot { index, window: ChunkWindow::default() };
        self.probe_sent = false;
        self.reading = None;
        self.inflights.clear();
    }

    /// A read-back for it failed, was refused or never came back: probe
    /// again once a heartbeat is answered (not at once, so a failing
    /// storage is not asked in a loop).
    pub fn on_read_back_failed(&mut self) {
        self.become_probe();
        self.probe_sent = true;
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

    /// The peer installed the snapshot at `index`, durably: everything up
    /// to it is held there. Sending resumes past it — unless a newer
    /// snapshot is already on its way (the leader compacted again while
    /// this one travelled), which keeps going.
    pub fn on_snapshot_installed(&mut self, index: LogIndex) {
        self.maybe_update(index);
        if let State::Snapshot { index: sending, .. } = self.state
            && sending <= index
        {
            self.become_probe();
        }
    }

    /// Records a message sent with entries up to `last` (`None`: an empty
    /// probe): a probe waits for its answer, a stream moves on and fills
    /// its window.
    pub fn on_sent(&mut self, last: Option<LogIndex>) {
        match (self.state, last) {
            (State::Probe, _) => self.probe_sent = true,
            (State::Replicate, Some(last)) => {
                self.next_index = last.next();
                self.inflights.add(last);
            }
            _ => {}
        }
    }

    /// What [`crate::replica::Replica::peer_status`] reports of it.
    pub fn status(&self) -> PeerStatus {
        PeerStatus {
            id: self.id,
            match_index: self.match_index,
            next_index: self.next_index,
            last_heard: self.last_heard,
            voter: self.voter,
        }
    }
}

/// The highest read round a quorum of `membership` confirmed: `own` for
/// the leader itself (`me`), each peer's latest answer for the others
/// (Raft thesis §6.4; the same rule serves Multi-Paxos's read barrier).
pub(crate) fn read_quorum(peers: &[Progress], membership: &Membership, me: NodeId, own: u64) -> u64 {
    membership.quorum_value(
        |id| {
            if id == me { own } else { peers.iter().find(|p| p.id == id).map_or(0, |p| p.read_round) }
        },
    )
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
    /// Entries from its next index that are no longer held in memory: they
    /// are read back from storage first.
    ReadBack,
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
            assert!(p.is_paused());
            match to {
                State::Probe => p.become_probe(),
                State::Replicate => p.become_replicate(),
                State::Snapshot { index, .. } => p.become_snapshot(index),
            }
            assert!(!p.inflights.is_full(), "after {to:?}");
        }
    }

    #[test]
    fn probing_and_streaming_start_past_the_match_and_a_snapshot() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(10), 2);
        assert!(!p.is_paused());
        p.probe_sent = true;
        assert!(p.is_paused(), "one probe at a time");
        p.match_index = LogIndex(4);
        p.next_index = LogIndex(3);
        p.become_replicate();
        assert_eq!(p.next_index, LogIndex(5), "never resend below the match");
        p.become_probe();
        assert_eq!((p.next_index, p.probe_sent), (LogIndex(5), false));
        p.become_snapshot(LogIndex(50));
        assert!(p.is_paused(), "no entries while a snapshot goes out");
        p.become_probe();
        assert_eq!(p.next_index, LogIndex(51), "resume after the snapshot");
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
    fn an_installed_snapshot_resumes_sending_unless_a_newer_one_is_on_its_way() {
        let mut p = Progress::new(NodeId(2), true, LogIndex(1), 4);
        p.become_snapshot(LogIndex(200));
        p.on_snapshot_installed(LogIndex(100));
        assert_eq!(p.match_index, LogIndex(100));
        assert!(matches!(p.state, State::Snapshot { index: LogIndex(200), .. }), "the newer transfer goes on");
        p.on_snapshot_installed(LogIndex(200));
        assert_eq!((p.state, p.next_index, p.match_index), (State::Probe, LogIndex(201), LogIndex(200)));
        // An answer that arrives after sending resumed moves it on too.
        p.on_snapshot_installed(LogIndex(300));
        assert_eq!((p.state, p.next_index), (State::Probe, LogIndex(301)));
    }
}
