//! The node machine: everything a node decides, and no I/O.
//!
//! A [`Machine`] owns the replica, the service, the table of client
//! requests, forwarding to the leader, read serving, the snapshot policy
//! and the leader's service ticks. It never touches a socket, a disk, a
//! clock or a channel; the async driver (`driver.rs`) and the simulator
//! both run this same code, so what the simulator checks is what ships.
//!
//! Call order, as for the core's replicas (STYLE habit 3):
//!
//! 1. Feed inputs, each with the current time: [`Machine::handle_frame`],
//!    [`Machine::handle_propose`], [`Machine::handle_query`],
//!    [`Machine::handle_persisted`] (and the other storage reports),
//!    [`Machine::handle_unreachable`], [`Machine::handle_timeout`].
//! 2. Pull [`Machine::poll_output`] and carry out everything in it, in
//!    order: write `persist` batches (in order, reporting each durable one
//!    back), send `frames`, complete `replies`.
//! 3. Sleep until [`Machine::poll_timeout`] or the next input.
//!
//! Persist-before-send holds end to end: the replica releases a message
//! only once the write it depends on was reported durable.

use super::requests::{ReadWant, Requester, Requests, Ticket, Waiting};
use super::{DiskAlarm, DiskStatus, NodeConfig, NodeCounters, NodeStatus, TickTime};
use crate::client::{ClientError, ClientReply, ClientRequest, RequestOp};
use crate::codec::Frame;
use bytes::Bytes;
use std::collections::BTreeMap;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{
    Entry, EntryKind, Event, LogRead, LogReadError, LogReadFailed, Output, Persist, PersistId, ReadError, Replica,
    Role, Snapshot, SnapshotMeta,
};
use synod_core::service::Service;
use synod_core::time::{Duration, Instant};

/// How soon requests parked while a leader is known (behind a leadership
/// transfer) are tried again.
const PARKED_RETRY: Duration = Duration::from_millis(10);

/// What a [`Machine`] asks its driver to do, pulled with
/// [`Machine::poll_output`]. Reused across polls: the driver empties it.
#[derive(Debug, Default)]
#[must_use]
pub struct NodeOutput {
    /// Writes to make durable, in order; report each with
    /// [`Machine::handle_persisted`].
    pub persist: Vec<Persist>,
    /// Entries to read back from storage (after the writes handed out
    /// before them), answered with [`Machine::handle_log_read`].
    pub log_reads: Vec<LogRead>,
    /// Frames to send to peers (a lost one is retransmitted or timed out).
    pub frames: Vec<(NodeId, Frame)>,
    /// Answers for requests this process submitted.
    pub replies: Vec<(Ticket, Result<Bytes, ClientError>)>,
    /// The replica's role and membership changes, for logs and harnesses.
    pub events: Vec<Event>,
    /// What the machine applied, restored and compacted, only when
    /// [`NodeConfig::record`] is set: a harness checks them.
    pub notes: Vec<Note>,
    /// The transport's peers (id → address) changed to these: the
    /// configuration in force names other members, or other addresses.
    pub peers: Option<BTreeMap<NodeId, String>>,
}

impl NodeOutput {
    /// True if there is nothing to carry out.
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.log_reads.is_empty()
            && self.frames.is_empty()
            && self.replies.is_empty()
            && self.events.is_empty()
            && self.notes.is_empty()
            && self.peers.is_none()
    }
}

/// A state change a harness checks (recorded only on request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A committed entry was handed to the service (commands applied,
    /// no-ops and configuration entries passed over).
    Applied(Entry),
    /// The service's state was replaced by a snapshot covering `index`.
    Restored {
        /// The last index the snapshot covers.
        index: LogIndex,
        /// The snapshot.
        data: Bytes,
    },
    /// The log was compacted into a snapshot of the service at `index`.
    Compacted {
        /// The last index the snapshot covers.
        index: LogIndex,
        /// The snapshot.
        data: Bytes,
    },
}

/// A node's decisions: see the module docs for the call order.
pub struct Machine<S> {
    pub(super) cfg: NodeConfig,
    pub(super) replica: Box<dyn Replica + Send>,
    pub(super) service: S,
    pub(super) requests: Requests,
    applied: LogIndex,
    /// The term of the entry at `applied`.
    applied_term: Term,
    snapshot_index: LogIndex,
    pub(super) leader: Option<NodeId>,
    role: Role,
    next_tick: Option<Instant>,
    /// The term and time of this leader's last proposed tick.
    tick_base: Option<(Term, Instant)>,
    /// Why the node must stop, once something fatal happened.
    fatal: Option<String>,
    pub(super) disk: DiskStatus,
    /// Totals since start, for metrics.
    counters: NodeCounters,
    /// The peers the transport was last told of, if the node manages them.
    pub(super) peers: Option<BTreeMap<NodeId, String>>,
    /// A joining node asking members for the configuration in force.
    pub(super) discovery: super::discover::Discovery,
    /// The latest time an input carried: outputs computed in
    /// [`Machine::poll_output`] are stamped with it.
    pub(super) now: Instant,
    scratch: Output,
    pub(super) out: NodeOutput,
}

impl<S: Service> Machine<S> {
    /// A node over `replica` (as built from what storage recovered) and
    /// `service` (empty: a recovered snapshot reaches it through the
    /// replica's first output).
    pub fn new(cfg: NodeConfig, replica: Box<dyn Replica + Send>, service: S, now: Instant) -> Self {
        let snapshot_index = replica.status().snapshot_index;
        let disk = DiskStatus { quota_bytes: cfg.quota_bytes, ..DiskStatus::default() };
        let mut requests = Requests::default();
        requests.number_forwards_from(cfg.seed);
        let membership_empty = replica.status().membership.is_empty();
        let peers = peers_of(&cfg, &replica.status().membership);
        let out = NodeOutput { peers: peers.clone(), ..NodeOutput::default() };
        Machine {
            cfg,
            replica,
            service,
            requests,
            applied: LogIndex(0),
            applied_term: Term(0),
            snapshot_index,
            leader: None,
            role: Role::Follower,
            next_tick: None,
            tick_base: None,
            fatal: None,
            disk,
            counters: NodeCounters::default(),
            now,
            scratch: Output::default(),
            peers,
            discovery: super::discover::Discovery::new(!membership_empty),
            out,
        }
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// The replica, for status and harness checks.
    pub fn replica(&self) -> &dyn Replica {
        self.replica.as_ref()
    }

    /// The service, as applied so far.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// Highest index handed to the service.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Why the node must stop, if something fatal happened (storage
    /// failed for good, a snapshot would not restore). A failed machine
    /// takes no more input; its driver stops.
    pub fn failure(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// The node's status.
    pub fn status(&self) -> NodeStatus {
        let mut peers = Vec::new();
        self.replica.peer_status(&mut peers);
        NodeStatus {
            replica: self.replica.status(),
            peers,
            applied: self.applied,
            in_flight: self.requests.len(),
            disk: self.disk.clone(),
            counters: self.counters.clone(),
            traffic: Vec::new(),
        }
    }

    /// A frame from peer `from` (already authenticated as `from`).
    pub fn handle_frame(&mut self, now: Instant, from: NodeId, frame: Frame) {
        self.now = now;
        match frame {
            Frame::Replica(msg) => {
                if let Err(e) = self.replica.handle_message(now, from, msg) {
                    tracing::debug!(node = %self.cfg.id, peer = %from, error = %e, "message ignored");
                }
            }
            Frame::Request(ClientRequest { id, op }) => self.submit(op, Requester::Remote { from, id }, now),
            Frame::Reply(ClientReply { id, result }) if self.discovery_answered(from, id, &result) => {}
            Frame::Reply(ClientReply { id, result }) => match self.requests.answered_by(id, from) {
                Ok(w) => match result {
                    // The leader moved on: try again from here.
                    Err(ClientError::NotLeader { .. }) if w.deadline > now => self.route(w, now),
                    // The leader confirmed the index our own reads wait for.
                    Ok(index) if matches!(w.requester, Requester::Readers(_)) => {
                        self.read_confirmed(from, &index, w.requester)
                    }
                    result => self.resend_or_answer(w, result),
                },
                // Debug, not warn: a member sending these can send
                // thousands a second, and must not fill the log too.
                Err(Some(asked)) => {
                    tracing::debug!(node = %self.cfg.id, peer = %from, %asked, id, "reply from a node that was not asked; ignored");
                }
                // Answered already, or given up on.
                Err(None) => {}
            },
            Frame::Hello(_) => {}
        }
    }

    /// A client of this process asks to apply `command`; the answer comes
    /// back as a reply for `ticket`.
    pub fn handle_propose(&mut self, now: Instant, ticket: Ticket, command: Bytes) {
        self.now = now;
        self.submit(RequestOp::Propose(command), Requester::Local(ticket), now);
    }

    /// A client of this process asks a linearizable query.
    pub fn handle_query(&mut self, now: Instant, ticket: Ticket, query: Bytes) {
        self.now = now;
        self.submit(RequestOp::Query(query), Requester::Local(ticket), now);
    }

    /// A client of this process asks for a backup of the service: a
    /// snapshot taken once this node has applied everything committed
    /// before the request (the leader confirms the index, as for a
    /// linearizable read), encoded as a [`crate::backup`] file.
    pub fn handle_backup(&mut self, now: Instant, ticket: Ticket) {
        self.read_here(now, ticket, ReadWant::Backup);
    }

    /// A client of this process asks a linearizable query served from
    /// this node's own state: the leader only confirms the index to wait
    /// for (Raft thesis §6.4), so reads spread over the followers.
    pub fn handle_follower_query(&mut self, now: Instant, ticket: Ticket, query: Bytes) {
        self.read_here(now, ticket, ReadWant::Query(query));
    }

    /// Holds a read to serve here until the output is next taken, when one
    /// read-index request goes out for every read held (`ask_read_index`).
    fn read_here(&mut self, now: Instant, ticket: Ticket, want: ReadWant) {
        self.now = now;
        if self.requests.len() >= self.cfg.max_in_flight {
            return Requester::Local(ticket).answer(&mut self.out, Err(ClientError::Busy));
        }
        self.requests.readers.push((ticket, want));
    }

    /// One read-index request for the reads held: each arrived before it
    /// is asked, so the index the leader confirms after receiving it
    /// covers every write acknowledged before any of them (Raft thesis
    /// §6.4).
    fn ask_read_index(&mut self) {
        if self.requests.readers.is_empty() || self.fatal.is_some() {
            return;
        }
        let readers = Requester::Readers(core::mem::take(&mut self.requests.readers));
        self.submit(RequestOp::ReadIndex, readers, self.now);
    }

    /// The leader `from` answered our read-index request: serve the reads
    /// here once applied that far.
    fn read_confirmed(&mut self, from: NodeId, index: &[u8], requester: Requester) {
        let Ok(index) = <[u8; 8]>::try_from(index) else {
            tracing::debug!(node = %self.cfg.id, peer = %from, "malformed read index; read refused");
            return requester.answer(&mut self.out, Err(ClientError::Unavailable));
        };
        self.index_confirmed(LogIndex(u64::from_le_bytes(index)), requester);
    }

    /// Reads at `index` confirmed for `requester`: this node's own readers
    /// wait to apply that far; anyone else asked for the index itself.
    pub(super) fn index_confirmed(&mut self, index: LogIndex, requester: Requester) {
        match requester {
            Requester::Readers(readers) => {
                for (ticket, want) in readers {
                    self.requests.ready_reads.push((index, want, Requester::Local(ticket)));
                }
            }
            r => r.answer(&mut self.out, Ok(Bytes::copy_from_slice(&index.0.to_le_bytes()))),
        }
    }

    /// A client of this process asks a membership step or a leadership
    /// transfer (sent on to the leader if need be).
    pub fn handle_request(&mut self, now: Instant, ticket: Ticket, op: RequestOp) {
        self.now = now;
        self.submit(op, Requester::Local(ticket), now);
    }

    /// Storage made every write up to `id` durable and now takes `usage`
    /// bytes (if it can tell).
    pub fn handle_persisted(&mut self, now: Instant, id: PersistId, usage: Option<u64>) {
        self.now = now;
        self.replica.handle_persisted(now, id);
        if matches!(self.disk.alarm, Some(DiskAlarm::Exhausted(_))) {
            tracing::info!(node = %self.cfg.id, "storage writes again: writes resume");
            self.disk.alarm = None;
        }
        self.disk_usage(usage);
    }

    /// Storage answered a [`LogRead`] from [`NodeOutput::log_reads`]. An
    /// error means the answer was refused (the replica asks again later);
    /// the driver logs it.
    pub fn handle_log_read(
        &mut self,
        now: Instant,
        read: LogRead,
        result: Result<Vec<Entry>, LogReadFailed>,
    ) -> Result<(), LogReadError> {
        self.now = now;
        self.replica.handle_log_read(now, read, result)
    }

    /// Storage refused a write for want of room and will retry it: until
    /// it fits, commands that grow the state are refused (NOSPACE).
    pub fn handle_disk_full(&mut self, why: String) {
        if self.disk.alarm.is_none() {
            tracing::error!(node = %self.cfg.id, error = %why,
                "storage is full: refusing writes that grow the state (NOSPACE) until it has room");
        }
        self.disk.alarm = Some(DiskAlarm::Exhausted(why));
    }

    /// Storage failed for good: nothing after the failed write may be
    /// acknowledged, so the node stops.
    pub fn handle_storage_failed(&mut self, why: String) {
        self.fail(format!("storage failed: {why}"));
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

    /// Something the node cannot go on from happened.
    pub fn fail(&mut self, why: String) {
        // The first cause is the one to report; what follows is its echo.
        if self.fatal.is_none() {
            tracing::error!(node = %self.cfg.id, error = %why, "stopping the node");
            self.fatal = Some(why);
        }
    }

    /// Asks the replica (if leader) to hand leadership to `to`.
    pub fn transfer_leader(&mut self, now: Instant, to: NodeId) -> Result<(), ClientError> {
        self.now = now;
        self.replica.transfer_leader(now, to).map_err(|_| ClientError::NotLeader { leader_hint: self.leader })
    }

    /// When [`Machine::handle_timeout`] next has work: the replica's
    /// timer, the leader's next service tick, or a request's deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.replica.poll_timeout();
        let mut earliest = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        };
        earliest(self.requests.next_deadline());
        if self.leader.is_some() && !self.requests.parked.is_empty() {
            earliest(Some(self.now + PARKED_RETRY));
        }
        if self.role == Role::Leader && self.cfg.service_tick.is_some() {
            earliest(Some(self.next_tick.unwrap_or(self.now)));
        }
        earliest(self.discovery_due());
        t
    }

    /// Timer work that is due at `now`: the replica's timers, the leader's
    /// service tick, request deadlines. Idempotent; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.replica.poll_timeout().is_some_and(|t| t <= now) {
            self.replica.handle_timeout(now);
        }
        self.tick(now);
        self.auto_promote(now);
        self.discover(now);
        for w in self.requests.expire(now) {
            w.requester.answer(&mut self.out, Err(ClientError::Timeout));
        }
        for r in self.requests.expire_settling(now) {
            r.answer(&mut self.out, Err(ClientError::Timeout));
        }
        // Parked behind a transfer that did not happen, say: try again.
        if self.leader.is_some() && !self.requests.parked.is_empty() {
            for w in core::mem::take(&mut self.requests.parked) {
                self.route(w, now);
            }
        }
    }

    /// The leader promotes a learner that has caught up (everything
    /// committed is on it), when configured to: one at a time, each
    /// through joint consensus like an operator's step.
    fn auto_promote(&mut self, now: Instant) {
        if !self.cfg.auto_promote || self.role != Role::Leader {
            return;
        }
        let status = self.replica.status();
        if status.membership.learners().is_empty() || status.membership.is_joint() {
            return;
        }
        let mut peers = Vec::new();
        self.replica.peer_status(&mut peers);
        let caught_up = peers.iter().find(|p| !p.voter && p.match_index >= status.commit).map(|p| p.id);
        if let Some(id) = caught_up {
            tracing::info!(node = %self.cfg.id, learner = %id, "the learner caught up: promoting it");
            let deadline = now + self.cfg.request_timeout;
            let op = RequestOp::Member(synod_core::replica::MemberStep::Promote { id });
            self.try_local(Waiting { op, requester: Requester::Internal, deadline, resend: false }, now);
        }
    }

    /// The leader proposes the passage of time (`NodeConfig::service_tick`).
    fn tick(&mut self, now: Instant) {
        if self.role != Role::Leader {
            return;
        }
        let Some(tick) = self.cfg.service_tick.clone() else { return };
        if self.next_tick.is_some_and(|t| t > now) {
            return;
        }
        // Elapsed since this leader's previous tick, on this process's
        // clock; a tick that could not be proposed leaves the base where it
        // was, so its time is carried by the next (service/clock.rs).
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

    /// Moves everything the replica and the request table produced since
    /// the last poll into `out` (appended; the caller empties it).
    pub fn poll_output(&mut self, out: &mut NodeOutput) {
        self.ask_read_index();
        self.drain();
        for (_, r) in &self.out.replies {
            match r {
                Ok(_) => self.counters.requests_ok += 1,
                Err(_) => self.counters.requests_failed += 1,
            }
        }
        out.persist.append(&mut self.out.persist);
        out.log_reads.append(&mut self.out.log_reads);
        out.frames.append(&mut self.out.frames);
        out.replies.append(&mut self.out.replies);
        out.events.append(&mut self.out.events);
        out.notes.append(&mut self.out.notes);
        if let Some(p) = self.out.peers.take() {
            out.peers = Some(p);
        }
    }

    /// Stops: every request held is answered `ShuttingDown`.
    pub fn shut_down(&mut self, out: &mut NodeOutput) {
        for r in self.requests.drain_all() {
            r.answer(&mut self.out, Err(ClientError::ShuttingDown));
        }
        out.frames.append(&mut self.out.frames);
        out.replies.append(&mut self.out.replies);
    }

    /// Drains the replica until it has nothing more to say.
    fn drain(&mut self) {
        let mut out = core::mem::take(&mut self.scratch);
        while self.fatal.is_none() {
            self.replica.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            if let Some(p) = out.persist.take() {
                self.out.persist.push(p);
            }
            for env in out.messages.drain(..) {
                self.out.frames.push((env.to, Frame::Replica(env.msg)));
            }
            self.out.log_reads.append(&mut out.log_reads);
            for ev in out.events.drain(..) {
                self.on_event(&ev);
                self.out.events.push(ev);
            }
            if let Some(snap) = out.restore.take() {
                self.restore(snap.meta.index, snap.meta.term, snap.data);
                if self.fatal.is_some() {
                    // Nothing may apply on a state that did not restore
                    // (found by the simulator's truncated-snapshot canary).
                    break;
                }
            }
            for e in out.committed.drain(..) {
                self.apply(e);
            }
            for rs in out.reads.drain(..) {
                let Some((query, r)) = self.requests.reads.remove(&rs.id) else { continue };
                match rs.result {
                    // Reads served where they were asked wait for that
                    // node's own application.
                    Ok(index) if matches!(query, ReadWant::Index) => self.index_confirmed(index, r),
                    Ok(index) => self.requests.ready_reads.push((index, query, r)),
                    Err(ReadError::NotLeader { leader_hint }) => {
                        r.answer(&mut self.out, Err(ClientError::NotLeader { leader_hint }))
                    }
                    Err(_) => r.answer(&mut self.out, Err(ClientError::Unavailable)),
                }
            }
            out.clear();
            self.maybe_snapshot();
        }
        self.scratch = out;
        self.answer_reads();
    }

    fn restore(&mut self, index: LogIndex, term: Term, data: Bytes) {
        if let Err(e) = self.service.restore(&data) {
            self.fail(format!("snapshot does not restore: {e}"));
            return;
        }
        self.applied = index;
        self.applied_term = term;
        self.snapshot_index = index;
        // Folded into the snapshot: applied or not, we cannot tell.
        let covered: Vec<u64> = self.requests.proposals.range(..=index.0).map(|(i, _)| *i).collect();
        for i in covered {
            if let Some(p) = self.requests.proposals.remove(&i) {
                self.settle(p, Err(ClientError::Timeout));
            }
        }
        if self.cfg.record {
            self.out.notes.push(Note::Restored { index, data });
        }
    }

    fn apply(&mut self, e: Entry) {
        self.applied = e.index;
        self.applied_term = e.term;
        if e.kind == EntryKind::Command {
            self.counters.commands_applied += 1;
        }
        let reply = (e.kind == EntryKind::Command).then(|| self.service.apply(e.index, &e.data));
        if e.kind == EntryKind::Membership {
            self.settle_membership(&e);
        }
        if let Some(p) = self.requests.proposals.remove(&e.index.0) {
            if p.membership {
                self.membership_committed(p, &e);
            } else {
                let result = p.outcome(&e, reply);
                self.settle(p, result);
            }
        }
        if self.cfg.record {
            self.out.notes.push(Note::Applied(e));
        }
    }

    /// Answers a proposal of ours, or sends it again (see
    /// `routing::resend_or_answer`).
    fn settle(&mut self, p: super::requests::Proposed, result: Result<Bytes, ClientError>) {
        let (resend, deadline) = (p.resend.is_some(), p.resend.unwrap_or(self.now));
        let w = Waiting { op: RequestOp::Propose(p.command), requester: p.requester, deadline, resend };
        self.resend_or_answer(w, result);
    }

    /// A membership change this node proposed reached its slot: done if
    /// the entry is ours and simple; if ours and joint, done once the
    /// configuration that leaves it applies (the leader appends it by
    /// itself, thesis §4.3); if not ours, the change never happened.
    fn membership_committed(&mut self, p: super::requests::Proposed, e: &Entry) {
        if e.kind != EntryKind::Membership || e.term != p.term {
            return p.requester.answer(&mut self.out, Err(ClientError::Lost));
        }
        match synod_core::replica::Membership::decode_exact(&e.data) {
            Ok(m) if m.is_joint() => {
                let deadline = self.now + self.cfg.request_timeout;
                self.requests.settling.push((p.requester, deadline));
            }
            _ => p.requester.answer(&mut self.out, Ok(Bytes::new())),
        }
    }

    /// A configuration entry applied: if it is simple, every change
    /// waiting for its joint phase to be left is in force.
    fn settle_membership(&mut self, e: &Entry) {
        let simple = synod_core::replica::Membership::decode_exact(&e.data).is_ok_and(|m| !m.is_joint());
        if simple {
            for r in core::mem::take(&mut self.requests.settling) {
                r.0.answer(&mut self.out, Ok(Bytes::new()));
            }
        }
    }

    fn on_event(&mut self, ev: &Event) {
        if let Event::MembershipChanged(m) = ev {
            tracing::info!(node = %self.cfg.id, voters = ?m.voters(), outgoing = ?m.outgoing(),
                learners = ?m.learners(), "configuration in force");
            self.discovery.configured |= !m.is_empty();
            let peers = peers_of(&self.cfg, m);
            if peers != self.peers {
                self.peers = peers.clone();
                self.out.peers = peers;
            }
        }
        let Event::RoleChanged { role, leader, .. } = *ev else { return };
        if role == Role::Candidate && self.role != Role::Candidate {
            self.counters.elections_started += 1;
        }
        if leader.is_some() && leader != self.leader {
            self.counters.leader_changes += 1;
        }
        if role == Role::Leader && self.role != Role::Leader {
            self.next_tick = None;
            self.tick_base = None;
        }
        self.role = role;
        let changed = self.leader != leader;
        self.leader = leader;
        if changed {
            self.leadership_changed();
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
                let answer = match query {
                    ReadWant::Query(q) => self.service.query(&q),
                    ReadWant::Index => Bytes::copy_from_slice(&index.0.to_le_bytes()),
                    ReadWant::Backup => self.backup(),
                };
                r.answer(&mut self.out, Ok(answer));
            } else {
                self.requests.ready_reads.push((index, query, r));
            }
        }
    }

    /// The service as applied so far, as a backup file.
    fn backup(&self) -> Bytes {
        let meta =
            SnapshotMeta { index: self.applied, term: self.applied_term, membership: self.replica.status().membership };
        crate::backup::encode(&Snapshot { meta, data: self.service.snapshot() })
    }

    fn maybe_snapshot(&mut self) {
        let every = self.cfg.snapshot_every;
        if every == 0 || self.applied.0 < self.snapshot_index.0 + every {
            return;
        }
        let data = self.service.snapshot();
        let bytes = data.len() as u64;
        if self.replica.compact(self.now, self.applied, data.clone()).is_ok() {
            self.snapshot_index = self.applied;
            self.counters.snapshots_taken += 1;
            self.counters.snapshot_bytes += bytes;
            if self.cfg.record {
                self.out.notes.push(Note::Compacted { index: self.applied, data });
            }
        }
    }

    /// A request the machine holds, sent back through the routing rules.
    pub(super) fn route(&mut self, w: Waiting, now: Instant) {
        self.try_local(w, now);
    }
}

/// The peers a node talks to under configuration `m`: every other member,
/// at the address the configuration records, else at the one the node was
/// started with. A node with no configuration yet (one joining) talks to
/// the members it was started with.
pub(super) fn peers_of(cfg: &NodeConfig, m: &synod_core::replica::Membership) -> Option<BTreeMap<NodeId, String>> {
    let started_with = cfg.peers.as_ref()?;
    if m.is_empty() {
        return Some(started_with.iter().filter(|(id, _)| **id != cfg.id).map(|(i, a)| (*i, a.clone())).collect());
    }
    let mut peers = BTreeMap::new();
    for id in m.members().filter(|id| *id != cfg.id) {
        let recorded = m.address(id).and_then(|a| core::str::from_utf8(a).ok()).map(str::to_owned);
        match recorded.or_else(|| started_with.get(&id).cloned()) {
            Some(addr) => {
                peers.insert(id, addr);
            }
            None => tracing::warn!(node = %cfg.id, peer = %id, "no address known for a member; it cannot be reached"),
        }
    }
    Some(peers)
}

impl<S> core::fmt::Debug for Machine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Machine").field("id", &self.cfg.id).field("leader", &self.leader).finish_non_exhaustive()
    }
}
