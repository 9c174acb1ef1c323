//! The event loop: a priority queue of timed events, processed in (time,
//! sequence) order, each followed by draining the touched node's outputs
//! and checking every invariant.

use super::client::{self, Client};
use super::invariants::{Invariants, Violation};
use super::locks::{self, LockClient, Resource};
use super::node::{Clock, Pending, SimNode};
use super::trace::Trace;
use super::{Params, Report, SimConfig, Stats};
use crate::history::{History, Outcome};
use crate::netem::Network;
use core::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::replica::Membership;
use synod_core::service::Reply;
use synod_core::time::{Instant, duration_nanos};
use synod_net::codec::Frame;
use synod_net::node::{NodeOutput, Ticket};

pub(crate) enum Kind {
    Deliver { from: usize, to: usize, life: u64, frame: Frame },
    Timer { node: usize },
    Sync { node: usize },
    ClientGo { client: usize },
    ClientArrive { client: usize, op: usize, node: usize, seq: u64 },
    ClientDone { client: usize, op: usize, outcome: Outcome, hint: Option<usize> },
    ClientTimeout { client: usize, op: usize, attempt: u32 },
    OpenArrive { client: usize, node: usize, attempt: u32 },
    OpenDone { client: usize, attempt: u32, session: Option<synod_core::service::ClientId> },
    Fault,
    Restart { node: usize },
    Crash { node: usize },
    Link { from: usize, to: usize, cut: bool },
    EndFaults,
    LockGo { client: usize },
    LockArrive { client: usize, seq: u64, node: usize },
    LockDone { client: usize, seq: u64, reply: Option<Reply>, hint: Option<usize> },
    LockTimeout { client: usize, seq: u64 },
    LogRead { node: usize, life: u64, read: synod_core::replica::LogRead },
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
pub(super) enum Phase {
    Faults,
    Healed { since: u64, first_write: Option<u64> },
}

/// A simulated cluster and its clients.
pub struct World {
    pub(super) cfg: SimConfig,
    seed: u64,
    pub(super) params: Params,
    pub(super) rng: Rng,
    /// How the disks read the log back, on a generator of its own.
    pub(super) read_backs: super::read_back::ReadBacks,
    pub(super) now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<Ev>>,
    pub(super) nodes: Vec<SimNode>,
    pub(super) net: Network,
    pub(super) clients: Vec<Client>,
    lock_clients: Vec<LockClient>,
    /// The resource the locks protect, checking fencing tokens.
    pub resource: Resource,
    /// The recorded client history.
    pub history: History,
    pub(super) inv: Invariants,
    pub(super) trace: Trace,
    pub(super) stats: Stats,
    /// Requests handed to a node machine, by (node position, ticket).
    pub(super) tickets: BTreeMap<(usize, Ticket), Pending>,
    next_ticket: u64,
    pub(super) out: NodeOutput,
    violation: Option<Violation>,
    pub(super) phase: Phase,
    /// The founding configuration.
    pub(super) membership: Membership,
    /// Nodes removed from the configuration: never added again (a node
    /// id is never reused).
    pub(super) removed: Vec<NodeId>,
    end: u64,
}

pub(super) const CLIENT_TIMEOUT: u64 = 600_000_000;
/// How long a node holds a request it forwarded or parked: less than a
/// client waits, so the node's own answer can reach it.
pub(super) const REQUEST_TIMEOUT: u64 = 500_000_000;
/// A lock client gives up on a request sooner: it must reach the leader
/// well within its lease, so it tries another node after this long.
const LOCK_TIMEOUT: u64 = 120_000_000;
/// How often a leader proposes the passage of time.
pub(super) const TICK: u64 = 50_000_000;
pub(super) const CLIENT_LATENCY: u64 = 200_000;

impl World {
    /// A cluster for `seed`; nothing has happened yet.
    pub fn new(seed: u64, cfg: SimConfig) -> World {
        let mut rng = Rng::with_seed(seed);
        let mut params = Params::draw(&mut rng);
        let read_backs = super::read_back::ReadBacks::draw(seed);
        params.raft.retained_entries = read_backs.retained;
        params.paxos.retained_entries = read_backs.retained;
        let ids: Vec<NodeId> = (1..=params.nodes as u64).map(NodeId).collect();
        let membership = Membership::voters_only(ids.iter().copied()).expect("non-empty");
        // Spares start with no configuration, to be added by the faults.
        let spares = if cfg.membership_changes { 2 } else { 0 };
        let ids: Vec<NodeId> = (1..=(params.nodes + spares) as u64).map(NodeId).collect();
        let mut nodes = Vec::new();
        for id in &ids {
            let clock = Clock {
                start: 0,
                offset: rng.range(0, 10_000_000_000),
                ppm: rng.range(0, 2 * params.max_ppm as u64 + 1) as i64 - params.max_ppm,
            };
            let seed = rng.next_u64();
            let founding = if membership.contains(*id) { membership.clone() } else { Membership::default() };
            let machine = super::node::start(&cfg, &params, *id, &clock, 0, Default::default(), &founding, seed);
            nodes.push(SimNode {
                id: *id,
                machine,
                up: true,
                disk: Default::default(),
                wiped: false,
                applied: Default::default(),
                commit: Default::default(),
                clock,
                timer_at: None,
                sync_at: None,
                leading: None,
                life: 0,
            });
        }
        // Every other client numbers its writes in a session and retries
        // them; the rest record a write without an answer as unknown.
        let clients = (0..cfg.clients).map(|c| Client { sessioned: c % 2 == 0, ..Client::default() }).collect();
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
            read_backs,
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
            tickets: BTreeMap::new(),
            next_ticket: 0,
            out: NodeOutput::default(),
            violation: None,
            phase: Phase::Faults,
            membership,
            removed: Vec::new(),
            end,
        }
    }

    pub(super) fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        self.events.push(Reverse(Ev { at, seq: self.seq, kind }));
    }

    pub(super) fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            let detail = v.detail.clone();
            self.trace.log(self.now, || format!("VIOLATION {}: {detail}", v.property));
            self.violation = Some(v);
        }
    }

    pub(super) fn check(&mut self, r: Result<(), Violation>) {
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
            if self.stats.steps > MAX_STEPS {
                // A run takes tens of thousands of steps: this many is a
                // message storm (each message begetting more), which would
                // otherwise fill memory rather than end.
                self.fail(Violation::new("runaway", format!("over {MAX_STEPS} events: a message storm")));
                break;
            }
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
        stats.tail_runs = u64::from(self.read_backs.retained.is_some());
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
            Kind::Deliver { from, to, life, frame } => {
                // Sent to a process that has since died: lost with its
                // connections, as over TCP.
                if !self.nodes[to].up || self.nodes[to].life != life {
                    return;
                }
                self.stats.delivered += 1;
                if matches!(frame, Frame::Request(_)) {
                    self.stats.forwarded += 1;
                }
                let now = self.local(to);
                let from_id = self.nodes[from].id;
                if self.trace.on() {
                    let m = format!("{frame:?}");
                    self.trace.log(self.now, || format!("{from_id:?} -> {:?}: {}", NodeId(to as u64 + 1), short(&m)));
                }
                self.nodes[to].machine.handle_frame(now, from_id, frame);
                self.drain(to);
            }
            Kind::LogRead { node, life, read } => self.answer_log_read(node, life, read),
            Kind::Timer { node } => {
                if !self.nodes[node].up || self.nodes[node].timer_at != Some(self.now) {
                    return;
                }
                self.nodes[node].timer_at = None;
                let now = self.local(node);
                self.nodes[node].machine.handle_timeout(now);
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
                    self.nodes[node].machine.handle_persisted(now, id, None);
                }
                self.schedule_sync(node);
                self.drain(node);
            }
            Kind::ClientGo { client } => self.client_go(client),
            Kind::ClientArrive { client, op, node, seq } => self.client_arrive(client, op, node, seq),
            Kind::ClientDone { client, op, outcome, hint } => self.client_done(client, op, outcome, hint),
            Kind::ClientTimeout { client, op, attempt } => {
                let c = &self.clients[client];
                if c.attempt == attempt && c.current.as_ref().is_some_and(|(id, _)| *id == op) {
                    self.client_done(client, op, Outcome::Unknown, None);
                }
            }
            Kind::OpenArrive { client, node, attempt } => self.open_arrive(client, node, attempt),
            Kind::OpenDone { client, attempt, session } => self.open_done(client, attempt, session),
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
        let ticket = self.ticket(node, Pending::Lock { client: c, seq });
        self.nodes[node].machine.handle_propose(now, ticket, cmd);
        self.drain(node);
    }

    /// A ticket for a request handed to node `node`'s machine.
    pub(super) fn ticket(&mut self, node: usize, p: Pending) -> Ticket {
        self.next_ticket += 1;
        let t = Ticket(self.next_ticket);
        self.tickets.insert((node, t), p);
        t
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
        self.net.cond = crate::netem::Conditions::calm();
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
        if self.clients[c].sessioned && self.clients[c].session.is_none() {
            return self.open_go(c);
        }
        let op = client::random_op(&mut self.rng, self.cfg.keys);
        let id = self.history.invoke(c as u64, op.clone(), self.now);
        let cl = &mut self.clients[c];
        if !op.is_read() {
            cl.seq += 1;
        }
        cl.current = Some((id, op));
        cl.tries = 0;
        self.client_send(c, id);
    }

    /// Sends the client's current operation `id` (again, if it is a
    /// sessioned write that got no answer) to the node it believes leads,
    /// or to any node.
    pub(super) fn client_send(&mut self, c: usize, id: usize) {
        let node = match self.clients[c].leader_hint {
            Some(n) if self.rng.chance(0.9) => n,
            _ => self.rng.below(self.nodes.len() as u64) as usize,
        };
        let cl = &mut self.clients[c];
        cl.attempt += 1;
        cl.tries += 1;
        // The number travels with the request: a late copy of an earlier
        // write keeps its own (and is refused as stale).
        let (attempt, seq) = (cl.attempt, cl.seq);
        let arrive = self.now + self.rng.range(0, CLIENT_LATENCY);
        self.schedule(arrive, Kind::ClientArrive { client: c, op: id, node, seq });
        self.schedule(self.now + CLIENT_TIMEOUT, Kind::ClientTimeout { client: c, op: id, attempt });
    }

    fn client_arrive(&mut self, c: usize, op_id: usize, node: usize, seq: u64) {
        if !self.nodes[node].up {
            return; // lost with the node; the client times out
        }
        let op = self.history.ops[op_id].op.clone();
        let now = self.local(node);
        let ticket = self.ticket(node, Pending::Kv { client: c, op: op_id });
        let cl = &self.clients[c];
        // The canary sends a sessioned client's writes, retries included,
        // without the session: a plain retry.
        let plain = self.cfg.canary == Some(super::Canary::PlainRetries);
        let session = cl.session.filter(|_| cl.sessioned && !plain).map(|s| (s, seq));
        match client::command(&op, session) {
            Some(cmd) => {
                self.nodes[node].machine.handle_propose(now, ticket, cmd);
                if self.nodes[node].leading.is_some() {
                    self.maybe_crash_soon(node);
                }
            }
            // Half the reads are served by the node asked, at the index
            // the leader confirms (follower reads); half by the leader.
            None if self.rng.chance(0.5) => {
                self.nodes[node].machine.handle_follower_query(now, ticket, client::query(&op))
            }
            None => self.nodes[node].machine.handle_query(now, ticket, client::query(&op)),
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

    pub(super) fn position(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub(super) fn client_done(&mut self, c: usize, op_id: usize, outcome: Outcome, hint: Option<usize>) {
        if self.clients[c].current.as_ref().is_none_or(|(id, _)| *id != op_id) {
            return; // answered after it timed out: the history already says unknown
        }
        if matches!(outcome, Outcome::Unknown | Outcome::Failed) && self.retries(c, op_id) {
            self.stats.ops_retried += 1;
            let hint = hint.or(self.clients[c].leader_hint);
            self.clients[c].leader_hint = hint;
            return self.client_send(c, op_id);
        }
        // Out of tries: "not applied" speaks for the last copy only; an
        // earlier one may have been.
        let outcome = match outcome {
            Outcome::Failed if self.clients[c].tries > 1 => Outcome::Unknown,
            o => o,
        };
        if matches!((&outcome, &self.history.ops[op_id].op), (Outcome::Ok(_), crate::history::Op::Tx(..))) {
            self.stats.transactions += 1;
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

    pub(super) fn schedule_sync(&mut self, i: usize) {
        let Some(at) = self.nodes[i].disk.next_sync() else { return };
        if self.nodes[i].sync_at.is_none_or(|t| at < t) {
            self.nodes[i].sync_at = Some(at);
            self.schedule(at, Kind::Sync { node: i });
        }
    }

    pub(super) fn reschedule_timer(&mut self, i: usize) {
        let node = &self.nodes[i];
        let Some(t) = node.machine.poll_timeout() else { return };
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
        node.timer_at = None;
        node.sync_at = None;
        node.leading = None;
        let id = node.id;
        // What the process held dies with it; its clients time out.
        self.tickets.retain(|(n, _), _| *n != i);
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
        let seed = self.rng.next_u64();
        let node = &mut self.nodes[i];
        node.wiped = false;
        let recovered = node.disk.durable.clone();
        // A spare restarts as it started: empty until its log says more.
        let founding = if self.membership.contains(id) { self.membership.clone() } else { Membership::default() };
        node.machine =
            super::node::start(&self.cfg, &self.params, node.id, &node.clock, self.now, recovered, &founding, seed);
        node.up = true;
        node.life += 1;
        node.applied = Default::default();
        node.commit = Default::default();
        node.leading = None;
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
        if self.nodes[from].machine.transfer_leader(now, target).is_ok() {
            self.stats.transfers += 1;
            self.trace.log(self.now, || format!("transfer leadership to {target:?}"));
        }
        self.drain(from);
    }

    pub(super) fn fault_window(&self) -> u64 {
        duration_nanos(self.cfg.fault_time)
    }
}

/// Events one run may take before it counts as a message storm.
const MAX_STEPS: u64 = 2_000_000;

fn short(s: &str) -> String {
    if s.len() > 160 { format!("{}…", &s[..160]) } else { s.to_string() }
}
