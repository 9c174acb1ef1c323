//! A compact deterministic simulator for single-decree Paxos
//! ([`synod_core::paxos::single::Decree`]): 3 or 5 nodes on a virtual
//! clock, a seeded network that drops, duplicates, delays (so reorders)
//! and partitions, disks that lose unsynced writes in crashes. After every
//! step it checks:
//!
//! - agreement: every value any node learned is one value, and at most one
//!   value is ever accepted by a quorum in any ballot (seen from outside,
//!   by counting the acceptors' `Accepted` messages);
//! - validity: the learned value was proposed;
//! - persist-before-reply: an acceptor's `Promise` or `Accepted` leaves
//!   only once its disk holds the promise (and acceptance) it claims;
//! - chosen values survive crashes: a restarted node's stored value is the
//!   chosen one, and after the faults end every node learns it.
//!
//! One seed determines the run. Two canaries plant bugs the campaigns must
//! catch: `canary_eager_ack` (writes acknowledged before the disk has
//! them) and `canary_amnesia` (a restarted node forgets its disk, so the
//! agreement checks themselves are seen to fail).

use crate::netem::{Conditions, Network};
use bytes::Bytes;
use core::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use synod_core::id::{Ballot, NodeId};
use synod_core::paxos::single::{Config, Decree, Durable, Message, Output, Timing, Write};
use synod_core::rand::Rng;
use synod_core::time::{Duration, Instant};

/// What a run looks like.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Plant the "ack before fsync" bug.
    pub canary_eager_ack: bool,
    /// Restart nodes with empty storage.
    pub canary_amnesia: bool,
    /// Virtual time with faults, ns.
    pub fault_time: u64,
    /// Virtual time after healing in which every node must learn, ns.
    pub liveness_time: u64,
    /// Keep a trace of events.
    pub trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            canary_eager_ack: false,
            canary_amnesia: false,
            fault_time: 600_000_000,
            liveness_time: 3_000_000_000,
            trace: false,
        }
    }
}

/// What a seed did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Messages delivered.
    pub delivered: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Partitions injected.
    pub partitions: u64,
    /// Proposals made.
    pub proposals: u64,
    /// Nacks delivered (duelling proposers).
    pub nacks: u64,
    /// Nodes that learned a value.
    pub learned: u64,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Stats) {
        self.delivered += o.delivered;
        self.crashes += o.crashes;
        self.partitions += o.partitions;
        self.proposals += o.proposals;
        self.nacks += o.nacks;
        self.learned += o.learned;
    }
}

/// The outcome of one seed.
#[derive(Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Counts.
    pub stats: Stats,
    /// The first property broken: (property, detail).
    pub violation: Option<(&'static str, String)>,
    /// The trace, if asked for.
    pub trace: Vec<String>,
}

enum Kind {
    Deliver { from: usize, to: usize, msg: Message },
    Timer { node: usize },
    Sync { node: usize },
    Propose { node: usize },
    Fault,
    Restart { node: usize },
    Crash { node: usize },
    EndFaults,
}

struct Node {
    decree: Decree,
    up: bool,
    /// What survives a crash for certain.
    disk: Durable,
    /// Written, not yet synced: (sync time, write).
    pending: VecDeque<(u64, Write)>,
    timer_at: Option<u64>,
    sync_at: Option<u64>,
}

struct World {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    kinds: Vec<Option<Kind>>,
    nodes: Vec<Node>,
    members: Vec<NodeId>,
    timing: Timing,
    /// The shared network emulator ([`crate::netem`]).
    net: Network,
    /// Chance that an acceptor crashes right after sending a promise.
    crash_after_promise: f64,
    proposed: Vec<Bytes>,
    learned: Option<Bytes>,
    /// Acceptances seen on the wire: ballot → (value, acceptors).
    accepts: BTreeMap<Ballot, (Bytes, BTreeSet<usize>)>,
    quorum_chosen: Option<Bytes>,
    healed: bool,
    stats: Stats,
    violation: Option<(&'static str, String)>,
    trace: Vec<String>,
}

/// Weather without faults: nothing lost, 50 µs plus ~0.5 ms of jitter.
fn calm() -> Conditions {
    Conditions { drop: 0.0, duplicate: 0.0, base_delay: 50_000, mean_jitter: 500_000, spike: 0.0 }
}

/// Runs one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Report {
    let mut w = World::new(seed, cfg.clone());
    w.run();
    Report { seed, nodes: w.nodes.len(), stats: w.stats, violation: w.violation, trace: w.trace }
}

impl World {
    fn new(seed: u64, cfg: SimConfig) -> World {
        let mut rng = Rng::with_seed(seed);
        let n = if rng.chance(0.6) { 3 } else { 5 };
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let timing = Timing {
            round_timeout: Duration::from_millis(rng.range(10, 100)),
            backoff: Duration::from_millis(rng.range(1, 20)),
            max_backoff: Duration::from_millis(rng.range(50, 300)),
        };
        let mut w = World {
            cfg,
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            kinds: Vec::new(),
            nodes: Vec::new(),
            members: members.clone(),
            timing,
            net: Network { cond: calm(), cut: BTreeSet::new() },
            crash_after_promise: 0.0,
            proposed: Vec::new(),
            learned: None,
            accepts: BTreeMap::new(),
            quorum_chosen: None,
            healed: false,
            stats: Stats::default(),
            violation: None,
            trace: Vec::new(),
        };
        for i in 0..n as usize {
            let decree = w.make(i, Durable::default());
            w.nodes.push(Node {
                decree,
                up: true,
                disk: Durable::default(),
                pending: VecDeque::new(),
                timer_at: None,
                sync_at: None,
            });
        }
        w
    }

    fn make(&mut self, i: usize, durable: Durable) -> Decree {
        let cfg = Config {
            id: self.members[i],
            members: self.members.clone(),
            seed: self.rng.next_u64(),
            timing: self.timing,
        };
        Decree::new(cfg, Instant::from_nanos(self.now), durable).expect("valid config")
    }

    fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        self.kinds.push(Some(kind));
        self.events.push(Reverse((at, self.seq, self.kinds.len() - 1)));
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        if self.cfg.trace {
            let line = format!("{:>10.3}ms {}", self.now as f64 / 1e6, f());
            self.trace.push(line);
        }
    }

    fn fail(&mut self, property: &'static str, detail: String) {
        if self.violation.is_none() {
            self.log(|| format!("VIOLATION {property}: {detail}"));
            self.violation = Some((property, detail));
        }
    }

    fn run(&mut self) {
        let n = self.nodes.len();
        if self.rng.chance(0.7) {
            self.weather();
        }
        self.crash_after_promise = [0.0, 0.05, 0.2][self.rng.below(3) as usize];
        // Proposals cluster at the start, so proposers duel; values are
        // unique per run.
        let proposals = 1 + self.rng.below(n as u64);
        for _ in 0..proposals {
            let at = if self.rng.chance(0.8) {
                self.rng.range(0, 60_000_000)
            } else {
                self.rng.range(0, self.cfg.fault_time)
            };
            let node = self.rng.below(n as u64) as usize;
            self.schedule(at, Kind::Propose { node });
        }
        let mut t = self.rng.range(0, 20_000_000);
        while t < self.cfg.fault_time {
            self.schedule(t, Kind::Fault);
            t += self.rng.range(1_000_000, 40_000_000);
        }
        self.schedule(self.cfg.fault_time, Kind::EndFaults);
        let end = self.cfg.fault_time + self.cfg.liveness_time;
        while let Some(Reverse((at, _, k))) = self.events.pop() {
            if at > end || self.violation.is_some() {
                break;
            }
            self.now = at;
            let Some(kind) = self.kinds[k].take() else { continue };
            self.handle(kind);
        }
        if self.violation.is_none() {
            for i in 0..n {
                if self.nodes[i].decree.chosen().is_none() {
                    self.fail("liveness", format!("node {} learned nothing within the liveness window", i + 1));
                }
            }
        }
        self.stats.learned = self.nodes.iter().filter(|x| x.decree.chosen().is_some()).count() as u64;
    }

    fn handle(&mut self, kind: Kind) {
        match kind {
            Kind::Deliver { from, to, msg } => {
                // A link cut while the message flew loses it too.
                if !self.nodes[to].up || self.net.cut.contains(&(from, to)) {
                    return;
                }
                self.stats.delivered += 1;
                if matches!(msg, Message::Nack { .. }) {
                    self.stats.nacks += 1;
                }
                self.log(|| format!("{} -> {}: {msg:?}", from + 1, to + 1));
                let now = Instant::from_nanos(self.now);
                if let Err(e) = self.nodes[to].decree.handle_message(now, self.members[from], msg) {
                    self.fail("no rejected messages between correct nodes", format!("{e}"));
                }
                self.drain(to);
            }
            Kind::Timer { node } => {
                if !self.nodes[node].up || self.nodes[node].timer_at != Some(self.now) {
                    return;
                }
                self.nodes[node].timer_at = None;
                self.nodes[node].decree.handle_timeout(Instant::from_nanos(self.now));
                self.drain(node);
            }
            Kind::Sync { node } => {
                if !self.nodes[node].up || self.nodes[node].sync_at != Some(self.now) {
                    return;
                }
                self.nodes[node].sync_at = None;
                let mut last = None;
                while self.nodes[node].pending.front().is_some_and(|(t, _)| *t <= self.now) {
                    let Some((_, w)) = self.nodes[node].pending.pop_front() else { break };
                    self.nodes[node].disk = w.state;
                    last = Some(w.id);
                }
                if let Some(id) = last
                    && !self.cfg.canary_eager_ack
                {
                    self.nodes[node].decree.handle_persisted(Instant::from_nanos(self.now), id);
                }
                self.schedule_sync(node);
                self.drain(node);
            }
            Kind::Propose { node } => {
                if !self.nodes[node].up {
                    return;
                }
                let v = Bytes::from(format!("value-{}-{}", node + 1, self.proposed.len()));
                self.proposed.push(v.clone());
                self.stats.proposals += 1;
                self.log(|| format!("{} proposes {v:?}", node + 1));
                let _ = self.nodes[node].decree.propose(Instant::from_nanos(self.now), v);
                self.drain(node);
            }
            Kind::Fault => self.fault(),
            Kind::Restart { node } => self.restart(node),
            Kind::Crash { node } => {
                if self.nodes[node].up && !self.healed {
                    self.crash(node);
                    let back = self.now + self.rng.range(1_000_000, 100_000_000);
                    self.schedule(back, Kind::Restart { node });
                }
            }
            Kind::EndFaults => {
                self.healed = true;
                self.net.heal();
                self.net.cond = calm();
                self.log(|| "faults end".into());
                for i in 0..self.nodes.len() {
                    self.restart(i);
                }
                // Someone proposes again (a proposer's round dies with it),
                // everyone else asks.
                let p = self.rng.below(self.nodes.len() as u64) as usize;
                self.schedule(self.now, Kind::Propose { node: p });
                for i in 0..self.nodes.len() {
                    self.nodes[i].decree.learn(Instant::from_nanos(self.now));
                    self.drain(i);
                }
            }
        }
    }

    fn fault(&mut self) {
        let n = self.nodes.len();
        match self.rng.below(6) {
            0 | 1 => {
                let i = self.rng.below(n as u64) as usize;
                if self.nodes[i].up {
                    self.crash(i);
                    let back = self.now + self.rng.range(1_000_000, 100_000_000);
                    self.schedule(back, Kind::Restart { node: i });
                }
            }
            2 => {
                // A random split, or a one-way cut.
                self.net.heal();
                let side: Vec<bool> = (0..n).map(|_| self.rng.chance(0.5)).collect();
                let one_way = self.rng.chance(0.3);
                for a in 0..n {
                    for b in 0..n {
                        if side[a] != side[b] && (!one_way || side[a]) {
                            self.net.cut.insert((a, b));
                        }
                    }
                }
                self.stats.partitions += 1;
                self.log(|| format!("partition {side:?} one-way {one_way}"));
            }
            3 => {
                self.net.heal();
                self.log(|| "healed".into());
            }
            4 => self.weather(),
            _ => {
                let i = self.rng.below(n as u64) as usize;
                self.schedule(self.now, Kind::Propose { node: i });
            }
        }
    }

    /// Harsher than the log simulator's weather: a single decree must
    /// survive a third of its messages lost.
    fn weather(&mut self) {
        self.net.cond = Conditions {
            drop: self.rng.unit_f64() * 0.3,
            duplicate: self.rng.unit_f64() * 0.2,
            base_delay: 50_000,
            mean_jitter: self.rng.range(100_000, 20_000_000),
            spike: 0.0,
        };
    }

    fn crash(&mut self, i: usize) {
        let keep = self.rng.below(self.nodes[i].pending.len() as u64 + 1) as usize;
        let node = &mut self.nodes[i];
        node.up = false;
        // A prefix of the unsynced writes may have reached the platter.
        for (_, w) in node.pending.drain(..).take(keep) {
            node.disk = w.state;
        }
        node.pending.clear();
        node.timer_at = None;
        node.sync_at = None;
        self.stats.crashes += 1;
        self.log(|| format!("{} crashed (kept {keep} unsynced writes)", i + 1));
    }

    fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            return;
        }
        if self.cfg.canary_amnesia {
            self.nodes[i].disk = Durable::default();
        }
        let disk = self.nodes[i].disk.clone();
        if let (Some(v), Some(c)) = (&disk.chosen, &self.quorum_chosen)
            && v != c
        {
            self.fail("chosen values survive crashes", format!("node {} stored {v:?}, {c:?} was chosen", i + 1));
        }
        self.nodes[i].decree = self.make(i, disk);
        self.nodes[i].up = true;
        self.log(|| format!("{} restarted", i + 1));
        if self.healed {
            self.nodes[i].decree.learn(Instant::from_nanos(self.now));
        }
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        let mut out = Output::default();
        for _ in 0..100 {
            self.nodes[i].decree.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            if let Some(w) = out.write.take() {
                let at = self.now + self.rng.range(10_000, 3_000_000);
                let at = self.nodes[i].pending.back().map_or(at, |(t, _)| at.max(*t));
                if self.cfg.canary_eager_ack {
                    // The lie: durable before the disk has it.
                    self.nodes[i].decree.handle_persisted(Instant::from_nanos(self.now), w.id);
                }
                self.nodes[i].pending.push_back((at, w));
                self.schedule_sync(i);
            }
            for (to, msg) in out.messages.drain(..) {
                self.check_sent(i, &msg);
                if matches!(msg, Message::Promise { .. }) && !self.healed && self.rng.chance(self.crash_after_promise) {
                    // Between promise and accept.
                    let at = self.now + self.rng.range(0, 2_000_000);
                    self.schedule(at, Kind::Crash { node: i });
                }
                let to = (to.0 - 1) as usize;
                self.send(i, to, msg);
            }
            if let Some(v) = out.chosen.take() {
                self.check_learned(i, v);
            }
        }
        self.reschedule_timer(i);
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        for delay in self.net.fate(from, to, &mut self.rng) {
            self.schedule(self.now + delay, Kind::Deliver { from, to, msg: msg.clone() });
        }
    }

    /// Persist-before-reply, and the outside view of what was chosen.
    fn check_sent(&mut self, i: usize, msg: &Message) {
        let disk = &self.nodes[i].disk.acceptor;
        match msg {
            Message::Promise { ballot, .. } if disk.promised < *ballot => {
                let detail = format!("node {} promised {ballot:?} with {:?} on disk", i + 1, disk.promised);
                self.fail("persist before reply", detail);
            }
            Message::Accepted { ballot, value } => {
                if disk.accepted.as_ref().is_none_or(|(b, _)| b < ballot) {
                    let detail = format!("node {} accepted {ballot:?} with {:?} on disk", i + 1, disk.accepted);
                    self.fail("persist before reply", detail);
                }
                let quorum = self.nodes.len() / 2 + 1;
                let entry = self.accepts.entry(*ballot).or_insert_with(|| (value.clone(), BTreeSet::new()));
                if entry.0 != *value {
                    let detail = format!("ballot {ballot:?} carried {:?} and {value:?}", entry.0);
                    self.fail("one value per ballot", detail);
                    return;
                }
                entry.1.insert(i);
                if entry.1.len() >= quorum {
                    match &self.quorum_chosen {
                        Some(c) if c != value => {
                            let detail = format!("{c:?} and {value:?} were both accepted by a quorum");
                            self.fail("agreement", detail);
                        }
                        Some(_) => {}
                        None => {
                            self.log(|| format!("chosen (quorum accepted {ballot:?}): {value:?}"));
                            self.quorum_chosen = Some(value.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn check_learned(&mut self, i: usize, v: Bytes) {
        self.log(|| format!("{} learned {v:?}", i + 1));
        if !self.proposed.contains(&v) {
            self.fail("validity", format!("node {} learned {v:?}, which nobody proposed", i + 1));
        }
        match (&self.learned, &self.quorum_chosen) {
            (Some(l), _) if *l != v => self.fail("agreement", format!("node {} learned {v:?}, another {l:?}", i + 1)),
            (_, Some(c)) if *c != v => {
                self.fail("agreement", format!("node {} learned {v:?}, {c:?} was chosen", i + 1))
            }
            (_, None) => self.fail("agreement", format!("node {} learned {v:?} before a quorum accepted it", i + 1)),
            _ => self.learned = Some(v),
        }
    }

    fn schedule_sync(&mut self, i: usize) {
        let Some(&(at, _)) = self.nodes[i].pending.front() else { return };
        if self.nodes[i].sync_at.is_none_or(|t| at < t) {
            self.nodes[i].sync_at = Some(at);
            self.schedule(at, Kind::Sync { node: i });
        }
    }

    fn reschedule_timer(&mut self, i: usize) {
        let Some(t) = self.nodes[i].decree.poll_timeout() else { return };
        let at = t.as_nanos().max(self.now);
        if self.nodes[i].timer_at.is_none_or(|s| at < s || s < self.now) {
            self.nodes[i].timer_at = Some(at);
            self.schedule(at, Kind::Timer { node: i });
        }
    }
}
