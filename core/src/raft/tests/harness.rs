//! A deterministic in-memory cluster for Raft scenario tests: virtual
//! time, a message queue with cuttable links, disks that lose unsynced
//! writes on crash.

use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{Body, Config, Message, Raft};
use crate::replica::{
    self, Entry, Event, Membership, Output, Persist, Proposal, ProposeError, ReadId, ReadState, Recovered, Replica,
    Role,
};
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::replica::read_back::testing::ReadBacks;
use alloc::vec::Vec;
use bytes::Bytes;

pub struct Node {
    pub raft: Raft,
    pub cfg: Config,
    pub initial: Membership,
    /// What survives a crash.
    pub disk: Recovered,
    /// Written but not yet synced; lost on crash.
    pub unsynced: Vec<Persist>,
    /// Every entry ever applied here, by index (kept across restarts).
    pub applied: BTreeMap<u64, Entry>,
    pub reads: Vec<ReadState>,
    pub events: Vec<Event>,
    pub restores: usize,
}

pub struct Cluster {
    pub nodes: BTreeMap<u64, Node>,
    pub now: Instant,
    pub queue: VecDeque<(NodeId, NodeId, Message)>,
    /// Directed links that drop everything.
    pub cut: BTreeSet<(u64, u64)>,
    pub down: BTreeSet<u64>,
    /// Sync every write as soon as it is handed out.
    pub auto_sync: bool,
    /// How storage answers read-backs, and what came of them.
    pub read_backs: ReadBacks,
    /// Every message delivered, for tests that count or inspect traffic.
    pub delivered: Vec<(NodeId, NodeId, Message)>,
    pub record: bool,
}

pub fn test_config(id: u64) -> Config {
    let mut c = Config::new(NodeId(id), id * 7919);
    c.election_timeout = Duration::from_millis(100);
    c.heartbeat_interval = Duration::from_millis(10);
    c
}

pub fn data(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

impl Cluster {
    pub fn new(n: u64) -> Cluster {
        Cluster::with(n, |_| {})
    }

    pub fn with(n: u64, tweak: impl Fn(&mut Config)) -> Cluster {
        let voters = Membership::voters_only((1..=n).map(NodeId)).unwrap();
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            now: Instant::from_millis(1),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            down: BTreeSet::new(),
            auto_sync: true,
            read_backs: ReadBacks::default(),
            delivered: Vec::new(),
            record: false,
        };
        for id in 1..=n {
            let mut cfg = test_config(id);
            tweak(&mut cfg);
            c.add_node(cfg, voters.clone());
        }
        c
    }

    /// Adds a node that starts with `initial` (empty for a joining node).
    pub fn add_node(&mut self, cfg: Config, initial: Membership) {
        let raft = Raft::new(cfg.clone(), self.now, Recovered::default(), initial.clone()).unwrap();
        let id = cfg.id.0;
        self.nodes.insert(
            id,
            Node {
                raft,
                cfg,
                initial,
                disk: Recovered::default(),
                unsynced: Vec::new(),
                applied: BTreeMap::new(),
                reads: Vec::new(),
                events: Vec::new(),
                restores: 0,
            },
        );
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    pub fn raft(&mut self, id: u64) -> &mut Raft {
        &mut self.nodes.get_mut(&id).unwrap().raft
    }

    /// Drains every live node's outputs once; true if anything came out.
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            if self.down.contains(&id) {
                continue;
            }
            let mut out = Output::default();
            loop {
                let node = self.nodes.get_mut(&id).unwrap();
                // The `Replica` contract: `has_output` says exactly whether
                // `poll_output` yields something, so a driver may sleep on it.
                let expected = node.raft.has_output();
                node.raft.poll_output(&mut out);
                assert_eq!(expected, !out.is_empty(), "node {id}: has_output disagrees with {out:?}");
                if out.is_empty() {
                    break;
                }
                any = true;
                if let Some(p) = out.persist.take() {
                    if self.auto_sync {
                        write(&mut node.disk, &p);
                        node.raft.handle_persisted(self.now, p.id);
                    } else {
                        node.unsynced.push(p);
                    }
                }
                for env in out.messages.drain(..) {
                    let replica::Message::Raft(m) = env.msg else { panic!("raft sent another protocol") };
                    self.queue.push_back((NodeId(id), env.to, m));
                }
                self.read_backs.carry(id, &node.disk, &mut node.raft, self.now, &mut out.log_reads);
                if out.restore.take().is_some() {
                    node.restores += 1;
                }
                for e in out.committed.drain(..) {
                    if let Some(prev) = node.applied.get(&e.index.0) {
                        assert_eq!(prev, &e, "node {id} applied two different entries at {:?}", e.index);
                    }
                    node.applied.insert(e.index.0, e);
                }
                node.reads.append(&mut out.reads);
                node.events.append(&mut out.events);
                out.clear();
            }
        }
        any
    }

    /// Delivers queued messages until nothing moves (bounded).
    pub fn stabilize(&mut self) {
        for _ in 0..10_000 {
            let polled = self.poll();
            if self.queue.is_empty() && !polled {
                return;
            }
            while let Some((from, to, m)) = self.queue.pop_front() {
                self.deliver(from, to, m);
            }
        }
        panic!("cluster did not stabilize");
    }

    /// Delivers the queued messages `keep` accepts and drops the rest.
    pub fn deliver_only(&mut self, keep: impl Fn(NodeId, NodeId, &Message) -> bool) {
        let queue = core::mem::take(&mut self.queue);
        for (from, to, m) in queue {
            if keep(from, to, &m) {
                self.deliver(from, to, m);
            }
        }
    }

    pub fn deliver(&mut self, from: NodeId, to: NodeId, m: Message) {
        if self.down.contains(&to.0) || self.cut.contains(&(from.0, to.0)) {
            return;
        }
        if self.record {
            self.delivered.push((from, to, m.clone()));
        }
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(&to.0) {
            let _ = node.raft.handle_message(now, from, replica::Message::Raft(m));
        }
    }

    /// Moves time forward in 1 ms steps, firing due timers and stabilizing.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(1);
            self.fire_timers();
            self.stabilize();
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for (id, node) in &mut self.nodes {
            if self.down.contains(id) {
                continue;
            }
            if node.raft.poll_timeout().is_some_and(|t| t <= now) {
                node.raft.handle_timeout(now);
            }
        }
    }

    /// Makes `id` time out now and runs the election to its end.
    pub fn elect(&mut self, id: u64) {
        let now = self.now;
        let r = self.raft(id);
        r.election_deadline = now;
        r.handle_timeout(now);
        self.stabilize();
    }

    pub fn leader(&self) -> Option<u64> {
        let leaders: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(id, n)| !self.down.contains(id) && n.raft.role == Role::Leader)
            .map(|(id, _)| *id)
            .collect();
        match leaders.as_slice() {
            [] => None,
            [one] => Some(*one),
            many => {
                // Several may believe they lead, in different terms.
                let best = many.iter().max_by_key(|id| self.nodes[id].raft.term).unwrap();
                Some(*best)
            }
        }
    }

    pub fn propose(&mut self, id: u64, s: &str) -> Result<Proposal, ProposeError> {
        let now = self.now;
        self.raft(id).propose(now, data(s))
    }

    pub fn read(&mut self, id: u64, rid: u64) -> Result<(), replica::ReadError> {
        let now = self.now;
        self.raft(id).read(now, ReadId(rid))
    }

    /// Makes every write `id` has handed out durable, and reports it.
    pub fn sync(&mut self, id: u64) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).unwrap();
        let mut last = None;
        for p in node.unsynced.drain(..) {
            write(&mut node.disk, &p);
            last = Some(p.id);
        }
        if let Some(last) = last {
            node.raft.handle_persisted(now, last);
        }
    }

    /// Stops `id`, losing every write not yet synced.
    pub fn crash(&mut self, id: u64) {
        self.down.insert(id);
        let node = self.nodes.get_mut(&id).unwrap();
        node.unsynced.clear();
        self.queue.retain(|(from, to, _)| from.0 != id && to.0 != id);
    }

    /// Restarts `id` from its disk.
    pub fn restart(&mut self, id: u64) {
        self.down.remove(&id);
        let now = self.now;
        let node = self.nodes.get_mut(&id).unwrap();
        node.raft = Raft::new(node.cfg.clone(), now, node.disk.clone(), node.initial.clone()).unwrap();
    }

    pub fn isolate(&mut self, id: u64) {
        for other in self.nodes.keys().copied().collect::<Vec<_>>() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn term(&self, id: u64) -> Term {
        self.nodes[&id].raft.term
    }

    pub fn commit(&self, id: u64) -> LogIndex {
        self.nodes[&id].raft.log.commit
    }

    pub fn last_index(&self, id: u64) -> LogIndex {
        self.nodes[&id].raft.log.last_index()
    }

    /// Payloads of applied commands at `id`, in order.
    pub fn applied_commands(&self, id: u64) -> Vec<Bytes> {
        self.nodes[&id]
            .applied
            .values()
            .filter(|e| e.kind == replica::EntryKind::Command)
            .map(|e| e.data.clone())
            .collect()
    }

    /// State-machine safety: no two nodes applied different entries at one index.
    pub fn assert_safe(&self) {
        let mut seen: BTreeMap<u64, (u64, &Entry)> = BTreeMap::new();
        for (id, n) in &self.nodes {
            for (i, e) in &n.applied {
                if let Some((other, oe)) = seen.get(i) {
                    assert_eq!(*oe, e, "nodes {other} and {id} applied different entries at {i}");
                } else {
                    seen.insert(*i, (*id, e));
                }
            }
        }
    }

    pub fn count_delivered(&self, pred: impl Fn(&Message) -> bool) -> usize {
        self.delivered.iter().filter(|(_, _, m)| pred(m)).count()
    }
}

/// Applies a write batch to a disk image, checking the storage contract.
pub fn write(disk: &mut Recovered, p: &Persist) {
    if let Some(t) = p.truncate_from {
        disk.entries.retain(|e| e.index < t);
    }
    if let Some(s) = &p.snapshot {
        disk.entries.retain(|e| e.index > s.meta.index);
        disk.snapshot = Some(s.clone());
    }
    for e in &p.entries {
        let expected = disk
            .entries
            .last()
            .map(|l| l.index.next())
            .unwrap_or_else(|| disk.snapshot.as_ref().map_or(LogIndex(1), |s| s.meta.index.next()));
        assert_eq!(e.index, expected, "non-contiguous write: {p:?}");
        disk.entries.push(e.clone());
    }
    if let Some(hs) = p.hard_state {
        disk.hard_state = hs;
    }
}

pub fn is_append(m: &Message) -> bool {
    matches!(m.body, Body::Append(_))
}
