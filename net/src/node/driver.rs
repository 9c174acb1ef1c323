//! The driver loop: feed inputs to the replica, carry its outputs out.

use super::requests::{Proposed, Requester, Requests, Waiting};
use super::storage::Report;
use super::{DiskAlarm, DiskStatus, Life, NodeConfig, NodeStatus, TickTime};
use crate::client::{ClientError, ClientReply, ClientRequest, RequestOp};
use crate::codec::Frame;
use crate::runtime::Runtime;
use crate::transport::Transport;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, FusedFuture};
use futures::{FutureExt, StreamExt, pin_mut, select_biased};
use std::sync::Arc;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{EntryKind, Event, Output, Persist, ProposeError, ReadError, Replica, Role};
use synod_core::service::Service;
use synod_core::time::{Duration, Instant};

/// What handles send the driver.
pub(crate) enum Command {
    Propose(Bytes, oneshot::Sender<Result<Bytes, ClientError>>),
    Query(Bytes, oneshot::Sender<Result<Bytes, ClientError>>),
    Status(oneshot::Sender<NodeStatus>),
    Transfer(NodeId, oneshot::Sender<Result<(), ClientError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Inputs handled per wake-up before outputs are drained, so that many
/// proposals share one append and one sync without starving timers.
const BATCH: usize = 512;

pub(super) struct Driver {
    cfg: NodeConfig,
    replica: Box<dyn Replica + Send>,
    service: Box<dyn Service + Send>,
    transport: Arc<dyn Transport>,
    runtime: Arc<dyn Runtime>,
    batches: mpsc::UnboundedSender<Persist>,
    out: Output,
    requests: Requests,
    applied: LogIndex,
    snapshot_index: LogIndex,
    leader: Option<NodeId>,
    role: Role,
    next_tick: Option<Instant>,
    /// The term and time of this leader's last proposed tick.
    tick_base: Option<(Term, Instant)>,
    stopping: Option<oneshot::Sender<()>>,
    /// Why the node must stop, once something fatal happened.
    fatal: Option<String>,
    disk: DiskStatus,
    life: Arc<Life>,
}

impl Driver {
    pub fn new(
        cfg: NodeConfig,
        replica: Box<dyn Replica + Send>,
        service: Box<dyn Service + Send>,
        transport: Arc<dyn Transport>,
        runtime: Arc<dyn Runtime>,
        batches: mpsc::UnboundedSender<Persist>,
        life: Arc<Life>,
    ) -> Self {
        let snapshot_index = replica.status().snapshot_index;
        let disk = DiskStatus { quota_bytes: cfg.quota_bytes, ..DiskStatus::default() };
        Driver {
            cfg,
            replica,
            service,
            transport,
            runtime,
            batches,
            out: Output::default(),
            requests: Requests::default(),
            applied: LogIndex(0),
            snapshot_index,
            leader: None,
            role: Role::Follower,
            next_tick: None,
            tick_base: None,
            stopping: None,
            fatal: None,
            disk,
            life,
        }
    }

    /// Storage takes `usage` bytes: raises or clears the quota alarm.
    pub fn disk_usage(&mut self, usage: Option<u64>) {
        self.disk.used_bytes = usage.or(self.disk.used_bytes);
        let over = matches!((self.disk.used_bytes, self.disk.quota_bytes), (Some(u), Some(q)) if u > q);
        match (&self.disk.alarm, over) {
            (None, true) => {
                tracing::warn!(node = %self.cfg.id, used = ?self.disk.used_bytes, quota = ?self.disk.quota_bytes,
                    "storage passed its quota: refusing writes that grow the state (NOSPACE)");
                self.disk.alarm = Some(DiskAlarm::QuotaExceeded);
            }
            (Some(DiskAlarm::QuotaExceeded), false) => {
                tracing::info!(node = %self.cfg.id, "storage back under its quota: writes resume");
                self.disk.alarm = None;
            }
            _ => {}
        }
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut acks: mpsc::UnboundedReceiver<Report>) {
        let transport = self.transport.clone();
        let inbound = Fuse::terminated();
        pin_mut!(inbound);
        self.drain();
        while self.stopping.is_none() && self.fatal.is_none() {
            if inbound.is_terminated() {
                inbound.set(transport.recv().fuse());
            }
            let deadline = self.next_deadline();
            let mut timer = self.runtime.sleep_until(deadline).fuse();
            select_biased! {
                ack = acks.next() => self.on_ack(ack),
                frame = inbound => match frame {
                    Some((from, frame)) => self.on_frame(from, frame),
                    None => break,
                },
                cmd = commands.next() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = timer => {}
            }
            // Take whatever else is ready before draining, to batch.
            for _ in 0..BATCH {
                let mut progressed = false;
                if let Ok(ack) = acks.try_recv() {
                    self.on_ack(Some(ack));
                    progressed = true;
                }
                if let Ok(cmd) = commands.try_recv() {
                    self.on_command(cmd);
                    progressed = true;
                }
                if !inbound.is_terminated()
                    && let Some(frame) = (&mut inbound).now_or_never()
                {
                    match frame {
                        Some((from, frame)) => self.on_frame(from, frame),
                        None => break,
                    }
                    inbound.set(transport.recv().fuse());
                    progressed = true;
                }
                if !progressed || self.stopping.is_some() {
                    break;
                }
            }
            self.on_time();
            self.drain();
        }
        self.shut_down();
    }

    fn now(&self) -> Instant {
        self.runtime.now()
    }

    fn next_deadline(&self) -> Instant {
        let mut t = self.replica.poll_timeout().unwrap_or(Instant::MAX);
        if let Some(d) = self.requests.next_deadline() {
            t = t.min(d);
        }
        if let (Some(tick), Role::Leader) = (self.next_tick, self.role) {
            t = t.min(tick);
        }
        // Wake at least once a second, so a stuck timer cannot wedge the node.
        t.min(self.now() + synod_core::time::Duration::from_secs(1))
    }

    fn on_ack(&mut self, ack: Option<Report>) {
        match ack {
            Some(Report::Durable { id, usage }) => {
                let now = self.now();
                self.replica.handle_persisted(now, id);
                if matches!(self.disk.alarm, Some(DiskAlarm::Exhausted(_))) {
                    tracing::info!(node = %self.cfg.id, "storage writes again: writes resume");
                    self.disk.alarm = None;
                }
                self.disk_usage(usage);
            }
            Some(Report::Exhausted(e)) => {
                if self.disk.alarm.is_none() {
                    tracing::error!(node = %self.cfg.id, error = %e,
                        "storage is full: refusing writes that grow the state (NOSPACE) until it has room");
                }
                self.disk.alarm = Some(DiskAlarm::Exhausted(e));
            }
            Some(Report::Failed(e)) => self.fail(format!("storage failed: {e}")),
            None => self.fail("storage task ended".into()),
        }
    }

    /// Something the node cannot go on from happened: it stops, and its
    /// handles say why.
    fn fail(&mut self, why: String) {
        // The first cause is the one to report; what follows is its echo.
        if self.fatal.is_none() {
            tracing::error!(node = %self.cfg.id, error = %why, "stopping the node");
            self.fatal = Some(why);
        }
    }

    fn on_frame(&mut self, from: NodeId, frame: Frame) {
        let now = self.now();
        match frame {
            Frame::Replica(msg) => {
                if let Err(e) = self.replica.handle_message(now, from, msg) {
                    tracing::debug!(node = %self.cfg.id, peer = %from, error = %e, "message ignored");
                }
            }
            Frame::Request(ClientRequest { id, op }) => {
                self.submit(op, Requester::Remote { from, id }, now);
            }
            Frame::Reply(ClientReply { id, result }) => match self.requests.answered_by(id, from) {
                Ok(w) => match result {
                    // The leader moved on: try again from here.
                    Err(ClientError::NotLeader { .. }) if w.deadline > now => self.route(w.op, w.requester, now),
                    result => w.requester.answer(self.transport.as_ref(), result),
                },
                // Debug, not warn: a member sending these can send
                // thousands a second, and must not fill the log too.
                Err(Some(asked)) => {
                    tracing::debug!(node = %self.cfg.id, peer = %from, %asked, id, "reply from a node that was not asked; ignored");
                }
                // Answered already, or expired.
                Err(None) => {}
            },
            Frame::Hello(_) => {}
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Propose(c, tx) => self.submit(RequestOp::Propose(c), Requester::Local(tx), now),
            Command::Query(q, tx) => self.submit(RequestOp::Query(q), Requester::Local(tx), now),
            Command::Status(tx) => {
                let mut peers = Vec::new();
                self.replica.peer_status(&mut peers);
                let _ = tx.send(NodeStatus {
                    replica: self.replica.status(),
                    peers,
                    applied: self.applied,
                    in_flight: self.requests.len(),
                    disk: self.disk.clone(),
                });
            }
            Command::Transfer(to, tx) => {
                let r = self
                    .replica
                    .transfer_leader(now, to)
                    .map_err(|_| ClientError::NotLeader { leader_hint: self.leader });
                let _ = tx.send(r);
            }
            Command::Shutdown(tx) => self.stopping = Some(tx),
        }
    }

    /// A new request: refuse if overloaded, refuse a command the service
    /// would refuse anyway (it never reaches the log), refuse one that
    /// grows the state while the disk is out of room; else hand it to the
    /// replica. Forwarded requests are checked again by the leader.
    fn submit(&mut self, op: RequestOp, requester: Requester, now: Instant) {
        if self.requests.len() >= self.cfg.max_in_flight {
            requester.answer(self.transport.as_ref(), Err(ClientError::Busy));
            return;
        }
        if let RequestOp::Propose(command) = &op {
            match self.service.check(command) {
                Err(refusal) => return requester.answer(self.transport.as_ref(), Ok(refusal)),
                Ok(admitted) if admitted.grows && self.disk.alarm.is_some() => {
                    return requester.answer(self.transport.as_ref(), Err(ClientError::NoSpace));
                }
                Ok(_) => {}
            }
        }
        self.try_local(op, requester, now);
    }

    fn try_local(&mut self, op: RequestOp, requester: Requester, now: Instant) {
        let hint = match op {
            RequestOp::Propose(command) => match self.replica.propose(now, command.clone()) {
                Ok(p) => {
                    let proposed = Proposed { term: p.term, command, requester };
                    self.requests.proposals.insert(p.index.0, proposed);
                    return;
                }
                Err(ProposeError::NotLeader { leader_hint }) => (leader_hint, RequestOp::Propose(command)),
                Err(ProposeError::TransferInProgress) => (None, RequestOp::Propose(command)),
                Err(e) => {
                    let err = match e {
                        ProposeError::Busy => ClientError::Busy,
                        ProposeError::ProposalTooLarge { .. } => ClientError::TooLarge,
                        _ => ClientError::Unavailable,
                    };
                    requester.answer(self.transport.as_ref(), Err(err));
                    return;
                }
            },
            RequestOp::Query(query) => {
                let id = self.requests.next_read_id();
                match self.replica.read(now, id) {
                    Ok(()) => {
                        self.requests.reads.insert(id, (query, requester));
                        return;
                    }
                    Err(ReadError::NotLeader { leader_hint }) => (leader_hint, RequestOp::Query(query)),
                    Err(_) => {
                        requester.answer(self.transport.as_ref(), Err(ClientError::Busy));
                        return;
                    }
                }
            }
        };
        let (leader_hint, op) = hint;
        if requester.is_remote() {
            // Forwarded once already: never chain forwards (no loops).
            requester.answer(self.transport.as_ref(), Err(ClientError::NotLeader { leader_hint }));
            return;
        }
        let deadline = now + self.cfg.request_timeout;
        let w = Waiting { op, requester, deadline };
        match leader_hint.filter(|l| *l != self.cfg.id) {
            Some(leader) => self.forward(leader, w),
            None => self.requests.parked.push(w),
        }
    }

    /// Sends a request on to the leader and remembers who asked.
    fn forward(&mut self, leader: NodeId, w: Waiting) {
        let id = self.requests.next_forward_id();
        let frame = Frame::Request(ClientRequest { id, op: w.op.clone() });
        match self.transport.send(leader, frame) {
            Ok(()) => {
                self.requests.forwarded.insert(id, (leader, w));
            }
            Err(_) => self.requests.parked.push(w),
        }
    }

    fn route(&mut self, op: RequestOp, requester: Requester, now: Instant) {
        self.try_local(op, requester, now);
    }

    /// Timer work: service ticks, parked retries, expiries.
    fn on_time(&mut self) {
        let now = self.now();
        if self.replica.poll_timeout().is_some_and(|t| t <= now) {
            self.replica.handle_timeout(now);
        }
        if self.role == Role::Leader
            && let Some(tick) = self.cfg.service_tick.clone()
        {
            let due = self.next_tick.is_none_or(|t| t <= now);
            if due {
                // Elapsed since this leader's previous tick, on this
                // process's clock; a tick that could not be proposed leaves
                // the base where it was, so its time is carried by the next.
                let term = self.replica.status().term;
                let elapsed = match self.tick_base {
                    Some((t, at)) if t == term => now.saturating_duration_since(at),
                    _ => Duration::ZERO,
                };
                if self.replica.propose(now, (tick.command)(TickTime { now, term, elapsed })).is_ok() {
                    self.tick_base = Some((term, now));
                }
                self.next_tick = Some(now + tick.every);
            }
        }
        for w in self.requests.expire(now) {
            w.requester.answer(self.transport.as_ref(), Err(ClientError::Timeout));
        }
        if self.leader.is_some() && !self.requests.parked.is_empty() {
            for w in core::mem::take(&mut self.requests.parked) {
                self.route(w.op, w.requester, now);
            }
        }
    }

    /// Carries every pending output out.
    fn drain(&mut self) {
        let mut out = core::mem::take(&mut self.out);
        loop {
            self.replica.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            if let Some(p) = out.persist.take()
                && self.batches.unbounded_send(p).is_err()
            {
                self.fail("storage task ended".into());
            }
            for env in out.messages.drain(..) {
                // A full queue drops the message; consensus retransmits.
                let _ = self.transport.send(env.to, Frame::Replica(env.msg));
            }
            for ev in out.events.drain(..) {
                self.on_event(ev);
            }
            if let Some(snap) = out.restore.take() {
                if let Err(e) = self.service.restore(&snap.data) {
                    self.fail(format!("snapshot does not restore: {e}"));
                    break;
                }
                self.applied = snap.meta.index;
                self.snapshot_index = snap.meta.index;
                // Folded into the snapshot: applied or not, we cannot tell.
                let covered: Vec<u64> = self.requests.proposals.range(..=snap.meta.index.0).map(|(i, _)| *i).collect();
                for i in covered {
                    if let Some(p) = self.requests.proposals.remove(&i) {
                        p.requester.answer(self.transport.as_ref(), Err(ClientError::Timeout));
                    }
                }
            }
            for e in out.committed.drain(..) {
                self.applied = e.index;
                let reply = (e.kind == EntryKind::Command).then(|| self.service.apply(e.index, &e.data));
                if let Some(p) = self.requests.proposals.remove(&e.index.0) {
                    let result = p.outcome(&e, reply);
                    p.requester.answer(self.transport.as_ref(), result);
                }
            }
            for rs in out.reads.drain(..) {
                let Some((query, r)) = self.requests.reads.remove(&rs.id) else { continue };
                match rs.result {
                    Ok(index) => self.requests.ready_reads.push((index, query, r)),
                    Err(ReadError::NotLeader { leader_hint }) => {
                        r.answer(self.transport.as_ref(), Err(ClientError::NotLeader { leader_hint }))
                    }
                    Err(_) => r.answer(self.transport.as_ref(), Err(ClientError::Unavailable)),
                }
            }
            out.clear();
            self.maybe_snapshot();
        }
        self.out = out;
        self.answer_reads();
    }

    fn on_event(&mut self, ev: Event) {
        if let Event::RoleChanged { role, leader, .. } = ev {
            if role == Role::Leader && self.role != Role::Leader {
                self.next_tick = None;
                self.tick_base = None;
            }
            self.role = role;
            self.leader = leader;
        }
    }

    fn answer_reads(&mut self) {
        let applied = self.applied;
        if self.requests.ready_reads.iter().all(|(i, _, _)| *i > applied) {
            return;
        }
        let ready = core::mem::take(&mut self.requests.ready_reads);
        for (index, query, r) in ready {
            if index <= applied {
                let answer = self.service.query(&query);
                r.answer(self.transport.as_ref(), Ok(answer));
            } else {
                self.requests.ready_reads.push((index, query, r));
            }
        }
    }

    fn maybe_snapshot(&mut self) {
        let every = self.cfg.snapshot_every;
        if every == 0 || self.applied.0 < self.snapshot_index.0 + every {
            return;
        }
        let now = self.now();
        let data = self.service.snapshot();
        if self.replica.compact(now, self.applied, data).is_ok() {
            self.snapshot_index = self.applied;
        }
    }

    fn shut_down(&mut self) {
        for r in self.requests.drain_all() {
            r.answer(self.transport.as_ref(), Err(ClientError::ShuttingDown));
        }
        self.transport.close();
        self.life.stop(self.fatal.take());
        if let Some(tx) = self.stopping.take() {
            let _ = tx.send(());
        }
    }
}
