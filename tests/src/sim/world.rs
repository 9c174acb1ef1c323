//! The event loop: a priority queue of timed events, processed in (time,
//! sequence) order, each followed by draining the touched node's outputs
//! and checking every invariant.

use super::client::{self, Client};
use super::disk::hash_bytes;
use super::invariants::{Invariants, Violation};
use super::locks::{self, LockClient, Resource};
use super::network::Network;
use super::node::{Clock, Pending, SimNode};
use super::trace::Trace;
use super::{Params, Report, SimConfig, Stats, make_replica};
use crate::history::{History, Op, Outcome, Ret};
use core::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use synod_core::id::{LogIndex, NodeId};
use synod_core::rand::Rng;
use synod_core::replica::{self, EntryKind, Event, Membership, Output, ReadId, Role};
use synod_core::service::{Reply, Service, Store};
use synod_core::time::{Instant, duration_nanos};

pub(super) enum Kind {
    Deliver { from: usize, to: usize, msg: replica::Message },
    Timer { node: usize },
    Sync { node: usize },
    ClientGo { client: usize },
    ClientArrive { client: usize, op: usize, node: usize },
    ClientDone { client: usize, op: usize, outcome: Outcome, hint: Option<usize> },
    ClientTimeout { client: usize, op: usize },
    Fault,
    Restart { node: usize },
    Crash { node: usize },
    Link { from: usize, to: usize, cut: bool },
    EndFaults,
    Tick { node: usize },
    LockGo { client: usize },
    LockArrive { client: usize, seq: u64, node: usize },
    LockDone { client: usize, seq: u64, reply: Option<Reply>, hint: Option<usize> },
    LockTimeout { client: usize, seq: u64 },
}

pub(super) struct Ev {
    at: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Liveness bookkeeping.
enum Phase {
    Faults,
    Healed { since: u64, first_write: Option<u64> },
}

/// A simulated cluster and its clients.
pub struct World {
    pub(super) cfg: SimConfig,
    seed: u64,
    pub(super) params: Params,
    pub(super) rng: Rng,
    pub(super) now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<Ev>>,
    pub(super) nodes: Vec<SimNode>,
    pub(super) net: Network,
    clients: Vec<Client>,
    lock_clients: Vec<LockClient>,
    /// The resource the locks protect, checking fencing tokens.
    pub resource: Resource,
    /// The recorded client history.
    pub history: History,
    inv: Invariants,
    pub(super) trace: Trace,
    pub(super) stats: Stats,
    out: Output,
    next_read: u64,
    violation: Option<Violation>,
    phase: Phase,
    membership: Membership,
    end: u64,
}

const CLIENT_TIMEOUT: u64 = 600_000_000;
/// A lock client gives up on a request sooner: it must reach the leader
/// well within its lease, so it tries another node after this long.
const LOCK_TIMEOUT: u64 = 120_000_000;
/// How often a leader proposes the passage of time.
const TICK: u64 = 50_000_000;
const CLIENT_LATENCY: u64 = 200_000;

impl World {
    /// A cluster for `seed`; nothing has happened yet.
    pub fn new(seed: u64, cfg: SimConfig) -> World {
        let mut rng = Rng::with_seed(seed);
        let params = Params::draw(&mut rng);
        let ids: Vec<NodeId> = (1..=params.nodes as u64).map(NodeId).collect();
        let membership = Membership::voters_only(ids.iter().copied()).expect("non-empty");
        let mut nodes = Vec::new();
        for id in &ids {
            let clock = Clock {
                start: 0,
                offset: rng.range(0, 10_000_000_000),
                ppm: rng.range(0, 2 * params.max_ppm as u64 + 1) as i64 - params.max_ppm,
            };
            let now = Instant::from_nanos(clock.local(0));
            let replica =
                make_replica(cfg.protocol, &params, *id, now, Default::default(), membership.clone(), rng.next_u64());
            nodes.push(SimNode {
                id: *id,
                replica,
                up: true,
                disk: Default::default(),
                store: Store::default(),
                next_tick: None,
                tick_base: None,
                wiped: false,
                applied: LogIndex(0),
                commit: LogIndex(0),
                proposals: BTreeMap::new(),
                reads: BTreeMap::new(),
                ready_reads: Vec::new(),
                clock,
                timer_at: None,
                sync_at: None,
                leading: None,
                snapshot_every: params.snapshot_every,
                snapshot_index: LogIndex(0),
            });
        }
        let clients = (0..cfg.clients).map(|_| Client { current: None, leader_hint: None }).collect();
        let lock_clients = (0..cfg.lock_clients)
            .map(|i| {
                let ttl = synod_core::time::Duration::from_millis(300 + 100 * (i as u64 % 5));
                LockClient::new(bytes::Bytes::from(format!("lock{}", i % 2)), ttl)
            })
            .collect();
        let end = duration_nanos(cfg.fault_time) + duration_nanos(cfg.liveness_time);
        let mut inv = Invariants::default();
        inv.log_matching = cfg.protocol.log_matching();
        let trace = Trace::new(cfg.trace, 400);
        World {
            cfg,
            seed,
            params,
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            nodes,
            net: Network::new(),
            clients,
            lock_clients,
            resource: Resource::default(),
            history: History::default(),
            inv,
            trace,
            stats: Stats::default(),
            out: Output::default(),
            next_read: 0,
            violation: None,
            phase: Phase::Faults,
            membership,
            end,
        }
    }

    pub(super) fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        self.events.push(Reverse(Ev { at, seq: self.seq, kind }));
    }

    fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            let detail = v.detail.clone();
            self.trace.log(self.now, || format!("VIOLATION {}: {detail}", v.property));
            self.violation = Some(v);
        }
    }

    fn check(&mut self, r: Result<(), Violation>) {
        if let Err(v) = r {
            self.fail(v);
        }
    }

    /// Runs the whole seed: faults, then healing and the liveness check,
    /// then the history check.
    pub fn run(&mut self) {
        for i in 0..self.nodes.len() {
            self.reschedule_timer(i);
        }
        for c in 0..self.clients.len() {
            let at = self.rng.range(0, 50_000_000);
            self.schedule(at, Kind::ClientGo { client: c });
        }
        for c in 0..self.lock_clients.len() {
            let at = self.rng.range(0, 50_000_000);
            self.schedule(at, Kind::LockGo { client: c });
        }
        self.schedule_faults();
        while let Some(Reverse(ev)) = self.events.pop() {
            if ev.at > self.end || self.violation.is_some() {
                break;
            }
            self.now = ev.at;
            self.stats.steps += 1;
            self.handle(ev.kind);
        }
        if self.violation.is_none() {
            self.check_liveness();
        }
        if self.violation.is_none() && self.cfg.check_history {
            self.check_history();
        }
    }

    fn check_liveness(&mut self) {
        if let Phase::Healed { since, first_write } = self.phase {
            let bound = duration_nanos(self.cfg.liveness_time);
            match first_write {
                Some(t) => self
                    .trace
                    .log(t, || format!("liveness: first write after healing at +{}ms", (t - since) / 1_000_000)),
                None => self.fail(Violation::new(
                    "liveness",
                    format!("no write committed within {}ms of healing", bound / 1_000_000),
                )),
            }
        }
    }

    /// Every answer clients got, reads included, must be explained by one
    /// total order consistent with real time (Wing & Gong, per key).
    fn check_history(&mut self) {
        match crate::linearizability::check(&self.history) {
            crate::linearizability::Verdict::Linearizable => {}
            crate::linearizability::Verdict::NotLinearizable(v) => {
                self.fail(Violation::new("linearizable history", format!("{v}")));
            }
            crate::linearizability::Verdict::Unknown { key } => {
                self.fail(Violation::new("linearizable history", format!("checker budget exhausted on key {key}")));
            }
        }
    }

    /// The outcome.
    pub fn report(&self) -> Report {
        let mut stats = self.stats.clone();
        stats.lock_actions = self.resource.admitted;
        stats.stale_holders = self.resource.refused;
        Report {
            seed: self.seed,
            params: self.params.clone(),
            stats,
            violation: self.violation.clone(),
            trace: self.trace.lines(),
        }
    }

    pub(super) fn local(&self, node: usize) -> Instant {
        Instant::from_nanos(self.nodes[node].clock.local(self.now))
    }

    fn handle(&mut self, kind: Kind) {
        match kind {
            Kind::Deliver { from, to, msg } => {
                if !self.nodes[to].up {
                    return;
                }
                self.stats.delivered += 1;
                let now = self.local(to);
                let from_id = self.nodes[from].id;
                if self.trace.on() {
                    let m = format!("{msg:?}");
                    self.trace.log(self.now, || format!("{from_id:?} -> {:?}: {}", NodeId(to as u64 + 1), short(&m)));
                }
                if self.nodes[to].replica.handle_message(now, from_id, msg).is_err() {
                    self.stats.rejected += 1;
                }
                self.drain(to);
            }
            Kind::Timer { node } => {
                if !self.nodes[node].up || self.nodes[node].timer_at != Some(self.now) {
                    return;
                }
                self.nodes[node].timer_at = None;
                let now = self.local(node);
                self.nodes[node].replica.handle_timeout(now);
                self.drain(node);
            }
            Kind::Sync { node } => {
                if !self.nodes[node].up || self.nodes[node].sync_at != Some(self.now) {
                    return;
                }
                self.nodes[node].sync_at = None;
                let mut written = Vec::new();
                let id = self.nodes[node].disk.sync(self.now, &mut written);
                let nid = self.nodes[node].id;
                for change in &written {
                    let r = self.inv.stored(nid, change);
                    self.check(r);
                }
                if let Some(id) = id {
                    let now = self.local(node);
                    self.nodes[node].replica.handle_persisted(now, id);
                }
                self.schedule_sync(node);
                self.drain(node);
            }
            Kind::ClientGo { client } => self.client_go(client),
            Kind::ClientArrive { client, op, node } => self.client_arrive(client, op, node),
            Kind::ClientDone { client, op, outcome, hint } => self.client_done(client, op, outcome, hint),
            Kind::ClientTimeout { client, op } => {
                if self.clients[client].current.as_ref().is_some_and(|(id, _)| *id == op) {
                    self.client_done(client, op, Outcome::Unknown, None);
                }
            }
            Kind::Fault => self.inject_fault(),
            Kind::Restart { node } => self.restart(node),
            Kind::Crash { node } => {
                if self.nodes[node].up {
                    self.crash(node);
                    let back = self.now + self.rng.range(10_000_000, 400_000_000);
                    self.schedule(back, Kind::Restart { node });
                }
            }
            Kind::Link { from, to, cut } => {
                if cut {
                    self.net.cut.insert((from, to));
                } else {
                    self.net.cut.remove(&(from, to));
                }
            }
            Kind::EndFaults => self.end_faults(),
            Kind::Tick { node } => self.tick(node),
            Kind::LockGo { client } => self.lock_go(client),
            Kind::LockArrive { client, seq, node } => self.lock_arrive(client, seq, node),
            Kind::LockDone { client, seq, reply, hint } => self.lock_done(client, seq, reply, hint),
            Kind::LockTimeout { client, seq } => {
                if self.lock_clients[client].current == Some(seq) {
                    self.lock_done(client, seq, None, None);
                }
            }
        }
    }

    /// A leader proposes the passage of time every tick (leases expire
    /// inside the log, never by a replica's own clock): the time elapsed
    /// on its own clock since its previous tick, as `synod-net`'s driver
    /// does. The old-time-base canary proposes its clock's reading instead.
    fn tick(&mut self, i: usize) {
        let node = &self.nodes[i];
        if !node.up || node.leading.is_none() || node.next_tick != Some(self.now) {
            return;
        }
        let now = self.local(i);
        let term = self.nodes[i].replica.status().term;
        let command = if self.cfg.canary_old_time_base {
            Store::tick(now)
        } else {
            let elapsed = match self.nodes[i].tick_base {
                Some((t, at)) if t == term => now.saturating_duration_since(at),
                _ => synod_core::time::Duration::ZERO,
            };
            Store::clock_tick(term.0, elapsed)
        };
        if self.nodes[i].replica.propose(now, command).is_ok() {
            self.nodes[i].tick_base = Some((term, now));
        }
        let next = self.now + TICK;
        self.nodes[i].next_tick = Some(next);
        self.schedule(next, Kind::Tick { node: i });
        self.drain(i);
    }

    fn lock_go(&mut self, c: usize) {
        let lc = &mut self.lock_clients[c];
        if lc.current.is_some() {
            return;
        }
        lc.seq += 1;
        let seq = lc.seq;
        lc.current = Some(seq);
        lc.sent(self.now);
        let node = match lc.leader_hint {
            Some(n) => n,
            None => self.rng.below(self.nodes.len() as u64) as usize,
        };
        let arrive = self.now + self.rng.range(0, CLIENT_LATENCY);
        self.schedule(arrive, Kind::LockArrive { client: c, seq, node });
        self.schedule(self.now + LOCK_TIMEOUT, Kind::LockTimeout { client: c, seq });
    }

    fn lock_arrive(&mut self, c: usize, seq: u64, node: usize) {
        if !self.nodes[node].up {
            return;
        }
        let cmd = self.lock_clients[c].next_command();
        let now = self.local(node);
        let pending = Pending::Lock { client: c, seq };
        let hash = hash_bytes(&cmd);
        match self.nodes[node].replica.propose(now, cmd) {
            Ok(p) => {
                self.nodes[node].proposals.insert(p.index.0, (p.term, hash, pending));
            }
            Err(replica::ProposeError::NotLeader { leader_hint }) => {
                let hint = leader_hint.and_then(|h| self.position(h));
                self.reply(pending, Outcome::Failed, hint);
            }
            Err(_) => self.reply(pending, Outcome::Failed, None),
        }
        self.drain(node);
    }

    fn lock_done(&mut self, c: usize, seq: u64, reply: Option<Reply>, hint: Option<usize>) {
        let lc = &mut self.lock_clients[c];
        if lc.current != Some(seq) {
            return;
        }
        lc.current = None;
        if hint.is_some() {
            lc.leader_hint = hint;
        } else if reply.is_none() {
            lc.leader_hint = None;
        }
        let lock = lc.lock.clone();
        let asked = format!("{:?}", lc.state);
        let answer = format!("{reply:?}");
        let granted = lc.on_reply(reply, self.params.max_ppm);
        let until = self.lock_clients[c].believed_until;
        self.trace.log(self.now, || format!("lock client {c} ({asked}): {answer}, believes until {until:?}"));
        if let Some(token) = granted {
            let r = locks::check_exclusive(&self.lock_clients, c, self.now);
            self.check(r);
            self.stats.lock_grants += 1;
            // The new holder acts on the resource right away.
            self.resource.act(&lock, token);
        }
        // A holder holds for up to most of its TTL, as real holders do,
        // so a lease that ends early on true time overlaps its belief.
        let lc = &self.lock_clients[c];
        let think = if matches!(lc.state, locks::LockState::Holding(..)) {
            self.rng.range(1_000_000, duration_nanos(lc.ttl) * 9 / 10)
        } else {
            self.rng.range(1_000_000, 40_000_000)
        };
        self.schedule(self.now + think, Kind::LockGo { client: c });
    }

    fn end_faults(&mut self) {
        self.net.heal();
        self.net.cond = super::network::Conditions::calm();
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                self.restart(i);
            }
        }
        self.phase = Phase::Healed { since: self.now, first_write: None };
        self.trace.log(self.now, || "faults end: network healed, every node up".into());
    }

    fn client_go(&mut self, c: usize) {
        if self.clients[c].current.is_some() {
            return;
        }
        let op = client::random_op(&mut self.rng, self.cfg.keys);
        let node = match self.clients[c].leader_hint {
            Some(n) if self.rng.chance(0.9) => n,
            _ => self.rng.below(self.nodes.len() as u64) as usize,
        };
        let id = self.history.invoke(c as u64, op.clone(), self.now);
        self.clients[c].current = Some((id, op));
        let arrive = self.now + self.rng.range(0, CLIENT_LATENCY);
        self.schedule(arrive, Kind::ClientArrive { client: c, op: id, node });
        self.schedule(self.now + CLIENT_TIMEOUT, Kind::ClientTimeout { client: c, op: id });
    }

    fn client_arrive(&mut self, c: usize, op_id: usize, node: usize) {
        if !self.nodes[node].up {
            return; // lost with the node; the client times out
        }
        let op = self.history.ops[op_id].op.clone();
        let now = self.local(node);
        let pending = Pending::Kv { client: c, op: op_id };
        let refused = match client::command(&op) {
            Some(cmd) => match self.nodes[node].replica.propose(now, cmd.clone()) {
                Ok(p) => {
                    self.nodes[node].proposals.insert(p.index.0, (p.term, hash_bytes(&cmd), pending));
                    self.maybe_crash_soon(node);
                    None
                }
                Err(replica::ProposeError::NotLeader { leader_hint }) => Some(leader_hint),
                Err(_) => Some(None),
            },
            None => {
                self.next_read += 1;
                let rid = ReadId(self.next_read);
                match self.nodes[node].replica.read(now, rid) {
                    Ok(()) => {
                        self.nodes[node].reads.insert(rid, pending);
                        None
                    }
                    Err(replica::ReadError::NotLeader { leader_hint }) => Some(leader_hint),
                    Err(_) => Some(None),
                }
            }
        };
        if let Some(hint) = refused {
            let hint = hint.and_then(|h| self.position(h));
            self.reply(pending, Outcome::Failed, hint);
        }
        self.drain(node);
    }

    /// Sometimes crash a leader moments after it took a proposal, before
    /// the entry reaches everyone: leaves logs that disagree at the tail.
    fn maybe_crash_soon(&mut self, node: usize) {
        let down = self.nodes.iter().filter(|n| !n.up).count();
        if matches!(self.phase, Phase::Faults)
            && down < (self.nodes.len() - 1) / 2
            && self.rng.chance(self.params.leader_crash / 20.0)
        {
            let at = self.now + self.rng.range(0, 2_000_000);
            self.schedule(at, Kind::Crash { node });
        }
    }

    fn position(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    fn reply(&mut self, p: Pending, outcome: Outcome, hint: Option<usize>) {
        let at = self.now + self.rng.range(0, CLIENT_LATENCY);
        match p {
            Pending::Kv { client, op } => self.schedule(at, Kind::ClientDone { client, op, outcome, hint }),
            Pending::Lock { client, seq } => {
                let reply = None;
                self.schedule(at, Kind::LockDone { client, seq, reply, hint })
            }
        }
    }

    /// Answers a request whose command was applied (`None`: it was not).
    fn answer(&mut self, p: Pending, reply: Option<Reply>) {
        match p {
            Pending::Kv { op, .. } => {
                let outcome = match reply {
                    None => Outcome::Failed,
                    Some(Reply::Kv(kv)) => match client::ret(&self.history.ops[op].op, &kv) {
                        Some(ret) => Outcome::Ok(ret),
                        None => Outcome::Unknown,
                    },
                    Some(_) => Outcome::Unknown,
                };
                self.reply(p, outcome, None);
            }
            Pending::Lock { client, seq } => {
                let at = self.now + self.rng.range(0, CLIENT_LATENCY);
                self.schedule(at, Kind::LockDone { client, seq, reply, hint: None });
            }
        }
    }

    fn client_done(&mut self, c: usize, op_id: usize, outcome: Outcome, hint: Option<usize>) {
        if self.clients[c].current.as_ref().is_none_or(|(id, _)| *id != op_id) {
            return; // answered after it timed out: the history already says unknown
        }
        match &outcome {
            Outcome::Ok(_) => self.stats.ops_ok += 1,
            Outcome::Failed => self.stats.ops_failed += 1,
            Outcome::Unknown => self.stats.ops_unknown += 1,
        }
        if let (Outcome::Ok(_), Phase::Healed { since, first_write }) = (&outcome, &mut self.phase) {
            let op = &self.history.ops[op_id];
            if !op.op.is_read() && op.invoke >= *since && first_write.is_none() {
                *first_write = Some(self.now);
            }
        }
        if self.trace.on() {
            let op = format!("{:?}", self.history.ops[op_id].op);
            let o = format!("{outcome:?}");
            self.trace.log(self.now, || format!("client {c}: {op} -> {o}"));
        }
        self.history.complete(op_id, self.now, outcome.clone());
        let client = &mut self.clients[c];
        client.current = None;
        client.leader_hint = match outcome {
            Outcome::Unknown => None,
            _ => hint.or(client.leader_hint),
        };
        let think = self.rng.range(0, 20_000_000);
        self.schedule(self.now + think, Kind::ClientGo { client: c });
    }

    /// Drains node `i`'s outputs, acting on each and checking invariants.
    pub(super) fn drain(&mut self, i: usize) {
        let mut out = core::mem::take(&mut self.out);
        for _ in 0..1000 {
            self.nodes[i].replica.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            self.act(i, &mut out);
            out.clear();
            self.maybe_compact(i);
        }
        self.out = out;
        self.answer_reads(i);
        let commit = self.nodes[i].replica.status().commit;
        if commit < self.nodes[i].commit {
            let v = Violation::new(
                "commit index never goes back",
                format!("{:?}: {commit:?} < {:?}", self.nodes[i].id, self.nodes[i].commit),
            );
            self.fail(v);
        }
        self.nodes[i].commit = commit;
        self.reschedule_timer(i);
    }

    fn act(&mut self, i: usize, out: &mut Output) {
        let id = self.nodes[i].id;
        if let Some(p) = out.persist.take() {
            let (lo, hi) = self.params.sync_latency;
            let at = self.now + self.rng.range(lo, hi);
            self.nodes[i].disk.write(p, at);
            self.schedule_sync(i);
        }
        for env in out.messages.drain(..) {
            let Some(to) = self.position(env.to) else { continue };
            for delay in self.net.fate(i, to, &mut self.rng) {
                self.schedule(self.now + delay, Kind::Deliver { from: i, to, msg: env.msg.clone() });
            }
        }
        for ev in out.events.drain(..) {
            self.on_event(i, ev);
        }
        if let Some(snap) = out.restore.take() {
            let node = &mut self.nodes[i];
            if let Err(e) = node.store.restore(&snap.data) {
                self.fail(Violation::new("snapshot restores", format!("{id:?}: {e}")));
                return;
            }
            node.applied = snap.meta.index;
            // Their outcome is folded into the snapshot: unknown to us.
            node.proposals.retain(|idx, _| *idx > snap.meta.index.0);
            let r = self.inv.snapshot(id, snap.meta.index, hash_bytes(&snap.data));
            self.check(r);
            self.trace.log(self.now, || format!("{id:?} restored snapshot at {:?}", snap.meta.index));
        }
        let term = self.nodes[i].replica.status().term;
        for e in out.committed.drain(..) {
            if e.index != self.nodes[i].applied.next() {
                let v = Violation::new(
                    "apply in order",
                    format!("{id:?} applied {:?} after {:?}", e.index, self.nodes[i].applied),
                );
                self.fail(v);
                return;
            }
            let r = self.inv.applied(id, &e, term);
            self.check(r);
            let node = &mut self.nodes[i];
            node.applied = e.index;
            let reply = if e.kind == EntryKind::Command {
                let before = locks::before(&node.store);
                let reply = node.store.apply(e.index, &e.data);
                let r = locks::check(&before, &node.store, &e.data);
                self.check(r);
                Some(reply)
            } else {
                None
            };
            if let Some((t, hash, pending)) = self.nodes[i].proposals.remove(&e.index.0) {
                if t != e.term && !self.cfg.protocol.log_matching() && hash == hash_bytes(&e.data) {
                    // A later Multi-Paxos leader re-proposed this value under
                    // its own ballot — or chose an identical command from
                    // another client. Which one cannot be told: maybe applied.
                    self.reply(pending, Outcome::Unknown, None);
                    continue;
                }
                // Another entry in its slot means it never took effect.
                let reply = reply.filter(|_| t == e.term).and_then(|b| Reply::decode(b).ok());
                self.answer(pending, reply);
            }
            // Proposals below the applied index that did not resolve were
            // overtaken by a restore; leave them to time out.
        }
        for r in out.reads.drain(..) {
            let Some(p) = self.nodes[i].reads.remove(&r.id) else { continue };
            match r.result {
                Ok(index) => self.nodes[i].ready_reads.push((index, p)),
                Err(replica::ReadError::NotLeader { leader_hint }) => {
                    let hint = leader_hint.and_then(|h| self.position(h));
                    self.reply(p, Outcome::Failed, hint);
                }
                Err(_) => self.reply(p, Outcome::Failed, None),
            }
        }
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        let id = self.nodes[i].id;
        if let Event::RoleChanged { role, term, leader } = ev {
            self.trace.log(self.now, || format!("{id:?} is {role:?} in {term:?} (leader {leader:?})"));
            if role == Role::Leader {
                self.stats.elections += 1;
                let r = self.inv.leader(id, term);
                self.check(r);
                let r = self.inv.new_leader(id, term, self.nodes[i].replica.as_ref());
                self.check(r);
                self.nodes[i].leading = Some(term);
                self.nodes[i].tick_base = None;
                self.nodes[i].next_tick = Some(self.now);
                self.schedule(self.now, Kind::Tick { node: i });
                let down = self.nodes.iter().filter(|n| !n.up).count();
                if matches!(self.phase, Phase::Faults)
                    && down < (self.nodes.len() - 1) / 2
                    && self.rng.chance(self.params.leader_crash)
                {
                    let at = self.now + self.rng.range(0, 3_000_000);
                    self.schedule(at, Kind::Crash { node: i });
                }
            } else {
                self.nodes[i].leading = None;
                self.nodes[i].next_tick = None;
            }
        }
    }

    fn answer_reads(&mut self, i: usize) {
        let applied = self.nodes[i].applied;
        let ready: Vec<(LogIndex, Pending)> = {
            let node = &mut self.nodes[i];
            let (now_ready, later): (Vec<_>, Vec<_>) = node.ready_reads.drain(..).partition(|(idx, _)| *idx <= applied);
            node.ready_reads = later;
            now_ready
        };
        for (_, p) in ready {
            let Pending::Kv { op, .. } = p else { continue };
            let Op::Get(k) = self.history.ops[op].op else { continue };
            let v = self.nodes[i].store.kv().get(&client::key_bytes(k)).map(client::parse_value);
            self.reply(p, Outcome::Ok(Ret::Value(v)), None);
        }
    }

    fn maybe_compact(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if node.applied.0 < node.snapshot_index.0 + node.snapshot_every {
            return;
        }
        let data = node.store.snapshot();
        let index = node.applied;
        let now = Instant::from_nanos(node.clock.local(self.now));
        if node.replica.compact(now, index, data.clone()).is_ok() {
            node.snapshot_index = index;
            self.stats.snapshots += 1;
            let id = node.id;
            let r = self.inv.snapshot(id, index, hash_bytes(&data));
            self.check(r);
        }
    }

    fn schedule_sync(&mut self, i: usize) {
        let Some(at) = self.nodes[i].disk.next_sync() else { return };
        if self.nodes[i].sync_at.is_none_or(|t| at < t) {
            self.nodes[i].sync_at = Some(at);
            self.schedule(at, Kind::Sync { node: i });
        }
    }

    pub(super) fn reschedule_timer(&mut self, i: usize) {
        let node = &self.nodes[i];
        let Some(t) = node.replica.poll_timeout() else { return };
        if t.as_nanos() > u64::MAX / 4 {
            return;
        }
        let at = node.clock.global(t.as_nanos()).max(self.now);
        if node.timer_at.is_none_or(|s| at < s || s < self.now) {
            self.nodes[i].timer_at = Some(at);
            self.schedule(at, Kind::Timer { node: i });
        }
    }

    pub(super) fn crash(&mut self, i: usize) {
        let keep =
            if self.rng.chance(0.5) { 0 } else { self.rng.below(self.nodes[i].disk.pending_len() as u64 + 1) as usize };
        let mut written = Vec::new();
        let node = &mut self.nodes[i];
        node.up = false;
        node.disk.crash(keep, &mut written);
        node.proposals.clear();
        node.reads.clear();
        node.ready_reads.clear();
        node.timer_at = None;
        node.sync_at = None;
        node.leading = None;
        let id = node.id;
        for change in &written {
            let r = self.inv.stored(id, change);
            self.check(r);
        }
        self.stats.crashes += 1;
        self.trace.log(self.now, || format!("{id:?} crashed (kept {keep} unsynced writes)"));
    }

    /// A new process on the node's machine: a fresh clock epoch, and what
    /// its disk kept. A disk that lost its log but kept the identity is
    /// refused, as `synod-storage` refuses it, and the node stays down for
    /// good (it is replaced under a new id); the amnesia canary starts on
    /// it anyway.
    /// Node `i`'s (crashed) disk loses its log but keeps its identity.
    pub(super) fn lose_log(&mut self, i: usize) {
        self.nodes[i].disk.lose_log();
        self.nodes[i].wiped = true;
        self.stats.disk_losses += 1;
        let id = self.nodes[i].id;
        self.inv.lost_log(id);
        self.trace.log(self.now, || format!("{id:?} lost its log"));
    }

    fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            return;
        }
        let id = self.nodes[i].id;
        if self.nodes[i].wiped && !self.cfg.canary_amnesia {
            self.stats.refused_starts += 1;
            self.trace.log(self.now, || format!("{id:?} refused to start: its log is lost"));
            return;
        }
        let epoch = self.rng.range(0, 10_000_000_000);
        self.nodes[i].clock = self.nodes[i].clock.restarted(self.now, epoch);
        let now = self.local(i);
        let seed = self.rng.next_u64();
        let node = &mut self.nodes[i];
        node.wiped = false;
        let recovered = node.disk.durable.clone();
        node.replica =
            make_replica(self.cfg.protocol, &self.params, node.id, now, recovered, self.membership.clone(), seed);
        node.up = true;
        node.store = Store::default();
        node.next_tick = None;
        node.tick_base = None;
        node.applied = LogIndex(0);
        node.commit = LogIndex(0);
        node.snapshot_index = node.disk.durable.snapshot.as_ref().map_or(LogIndex(0), |s| s.meta.index);
        self.trace.log(self.now, || format!("{id:?} restarted"));
        self.drain(i);
    }

    /// The node positions currently leading, newest term first.
    pub(super) fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up && self.nodes[*i].leading.is_some())
            .max_by_key(|i| self.nodes[*i].leading)
    }

    pub(super) fn transfer(&mut self, from: usize, to: usize) {
        let now = self.local(from);
        let target = self.nodes[to].id;
        if self.nodes[from].replica.transfer_leader(now, target).is_ok() {
            self.stats.transfers += 1;
            self.trace.log(self.now, || format!("transfer leadership to {target:?}"));
        }
        self.drain(from);
    }

    pub(super) fn fault_window(&self) -> u64 {
        duration_nanos(self.cfg.fault_time)
    }
}

fn short(s: &str) -> String {
    if s.len() > 160 { format!("{}…", &s[..160]) } else { s.to_string() }
}
