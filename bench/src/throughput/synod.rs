//! synod's replicas (Raft and Multi-Paxos) driven through the [`Replica`]
//! trait, with an in-memory "storage" that moves each persisted batch's
//! payloads into a `Vec` and acknowledges them at once. A `Persist` is the
//! caller's to keep, so moving its entries is how synod's API is meant to
//! be used; OmniPaxos's `MemoryStorage` likewise takes its entries by value.
//!
//! The replicas keep only a tail of their log in memory
//! (`retained_entries`): storage holds the one copy, and serves the
//! read-backs a leader asks for ([`LogRead`]). Storage keeps what an entry
//! needs and no more, as OmniPaxos's does: the payload handle per index,
//! terms as runs (one per leader), and the kinds of the rare entries that
//! are not commands.

use std::collections::VecDeque;

use bytes::Bytes;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::paxos::multi::{self, MultiPaxos};
use synod_core::raft::{Config, Raft};
use synod_core::replica::{
    Entry, EntryKind, Envelope, HardState, LogRead, Membership, Output, Persist, Recovered, Replica, Role,
};
use synod_core::time::Instant;

use super::{Cluster, Workload, payload};

/// Applied entries a leader keeps in memory for a lagging follower.
const RETAINED: u64 = 256;

/// What one replica's storage holds.
#[derive(Default)]
struct Stored {
    /// The payload of every entry, from index 1.
    data: Vec<Bytes>,
    /// (first index, term) of each run of one term.
    terms: Vec<(LogIndex, Term)>,
    /// The entries that are not commands.
    kinds: Vec<(LogIndex, EntryKind)>,
    hard_state: HardState,
}

impl Stored {
    fn write(&mut self, p: &mut Persist) {
        if let Some(from) = p.truncate_from {
            self.data.truncate(from.0.saturating_sub(1) as usize);
            while self.terms.last().is_some_and(|&(start, _)| start >= from) {
                self.terms.pop();
            }
            self.kinds.retain(|&(i, _)| i < from);
        }
        // No snapshots are taken in this workload.
        for e in p.entries.drain(..) {
            if self.terms.last().is_none_or(|&(_, t)| t != e.term) {
                self.terms.push((e.index, e.term));
            }
            if e.kind != EntryKind::Command {
                self.kinds.push((e.index, e.kind));
            }
            self.data.push(e.data);
        }
        if let Some(hs) = p.hard_state {
            self.hard_state = hs;
        }
    }

    /// The entry at `index` (stored).
    fn entry(&self, index: LogIndex) -> Entry {
        let run = self.terms.partition_point(|&(start, _)| start <= index) - 1;
        let kind = match self.kinds.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(k) => self.kinds[k].1,
            Err(_) => EntryKind::Command,
        };
        Entry { index, term: self.terms[run].1, kind, data: self.data[(index.0 - 1) as usize].clone() }
    }

    /// Answers a read-back.
    fn read(&self, read: &LogRead) -> Vec<Entry> {
        let last = self.data.len() as u64;
        read.take((read.from.0..=last).map(|i| self.entry(LogIndex(i))))
    }
}

/// A synod Raft cluster in one thread.
pub type SynodRaft = Synod<Raft>;
/// A synod Multi-Paxos cluster in one thread.
pub type SynodMultiPaxos = Synod<MultiPaxos>;

/// A cluster of synod replicas of one protocol, in one thread.
pub struct Synod<R> {
    replicas: Vec<R>,
    stored: Vec<Stored>,
    out: Output,
    queue: VecDeque<(NodeId, Envelope)>,
    now: Instant,
    leader: usize,
    /// Commands committed at the leader so far.
    committed: u64,
}

impl SynodRaft {
    /// Builds `n` Raft replicas and elects replica 1.
    pub fn elect(n: u64) -> SynodRaft {
        let voters = Membership::voters_only((1..=n).map(NodeId)).expect("valid membership");
        let replicas = (1..=n)
            .map(|i| {
                let mut cfg = Config::new(NodeId(i), i);
                cfg.retained_entries = Some(RETAINED);
                Raft::new(cfg, Instant::ZERO, Recovered::default(), voters.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("valid config");
        Synod::elect_first(replicas)
    }
}

impl SynodMultiPaxos {
    /// Builds `n` Multi-Paxos replicas and elects replica 1.
    pub fn elect(n: u64) -> SynodMultiPaxos {
        let voters = Membership::voters_only((1..=n).map(NodeId)).expect("valid membership");
        let replicas = (1..=n)
            .map(|i| {
                let mut cfg = multi::Config::new(NodeId(i), i);
                cfg.retained_entries = Some(RETAINED);
                MultiPaxos::new(cfg, Instant::ZERO, Recovered::default(), voters.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("valid config");
        Synod::elect_first(replicas)
    }
}

impl<R: Replica> Synod<R> {
    fn elect_first(replicas: Vec<R>) -> Synod<R> {
        let n = replicas.len();
        let mut c = Synod {
            stored: (0..n).map(|_| Stored::default()).collect(),
            replicas,
            out: Output::default(),
            queue: VecDeque::new(),
            now: Instant::ZERO,
            leader: 0,
            committed: 0,
        };
        // Only replica 1 is ever given a timeout, so it wins.
        c.now = c.replicas[0].poll_timeout().expect("a voter has an election timeout");
        c.replicas[0].handle_timeout(c.now);
        while c.pump() {}
        assert_eq!(c.replicas[0].status().role, Role::Leader, "replica 1 is elected");
        let s = c.replicas[0].status();
        assert_eq!(s.commit, s.last_index, "the leader's opening entries are committed");
        c
    }

    /// Drains every replica's outputs and delivers every message; false if
    /// there was nothing to do.
    fn pump(&mut self) -> bool {
        let mut busy = false;
        for i in 0..self.replicas.len() {
            let r = &mut self.replicas[i];
            let from = r.id();
            loop {
                r.poll_output(&mut self.out);
                if self.out.is_empty() {
                    break;
                }
                busy = true;
                if let Some(mut p) = self.out.persist.take() {
                    self.stored[i].write(&mut p);
                    r.handle_persisted(self.now, p.id);
                }
                self.queue.extend(self.out.messages.drain(..).map(|env| (from, env)));
                for read in core::mem::take(&mut self.out.log_reads) {
                    let entries = self.stored[i].read(&read);
                    r.handle_log_read(self.now, read, Ok(entries)).expect("storage answers what was asked");
                }
                if i == self.leader {
                    self.committed += self.out.committed.iter().filter(|e| e.kind == EntryKind::Command).count() as u64;
                }
                self.out.clear();
            }
        }
        while let Some((from, env)) = self.queue.pop_front() {
            busy = true;
            let to = (env.to.0 - 1) as usize;
            self.replicas[to].handle_message(self.now, from, env.msg).expect("a well-formed message");
        }
        busy
    }

    /// Entries in the leader's log, its no-op included.
    pub fn leader_log_len(&self) -> u64 {
        self.replicas[self.leader].status().last_index.0
    }
}

impl<R: Replica> Cluster for Synod<R> {
    fn run(&mut self, w: &Workload) -> u64 {
        let start = self.committed;
        let mut proposed = 0;
        while self.committed - start < w.entries {
            while proposed < w.entries && proposed - (self.committed - start) < w.window {
                let data = Bytes::from(payload(w.payload, proposed));
                self.replicas[self.leader].propose(self.now, data).expect("the leader takes proposals");
                proposed += 1;
            }
            assert!(self.pump(), "synod stalled at {} of {}", self.committed - start, w.entries);
        }
        self.committed - start
    }
}
