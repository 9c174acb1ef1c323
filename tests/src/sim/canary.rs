//! Deliberately broken replicas and services that the simulator must
//! catch: the checker's own teeth are tested (STYLE habit 10). Never used
//! outside canary campaigns: [`plant`] and [`ServiceFault::new`] return
//! nothing to plant unless `SimConfig::canary` names a fault.

use super::locks::Tables;
use super::world::TICK;
use super::{Canary, Protocol};
use bytes::Bytes;
use std::collections::VecDeque;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::paxos::multi;
use synod_core::raft;
use synod_core::replica::{
    CompactError, Entry, Event, LogRead, LogReadError, LogReadFailed, MembershipChange, Message, MessageError, Output,
    PeerStatus, PersistId, Proposal, ProposeError, ReadError, ReadId, Replica, Role, Snapshot, SnapshotMeta, Status,
    TransferError,
};
use synod_core::service::{Caller, Command, Op, Reply, Service, Step, Store};
use synod_core::time::{Duration, Instant};

/// Tells the replica its writes are durable the moment they are handed
/// out, before the disk has synced them — the classic "ack before fsync"
/// bug. A crash then loses writes the cluster counted on.
pub struct EagerAck(pub Box<dyn Replica + Send>);

impl Replica for EagerAck {
    fn id(&self) -> NodeId {
        self.0.id()
    }
    fn propose(&mut self, now: Instant, data: Bytes) -> Result<Proposal, ProposeError> {
        self.0.propose(now, data)
    }
    fn read(&mut self, now: Instant, id: ReadId) -> Result<(), ReadError> {
        self.0.read(now, id)
    }
    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<(), MessageError> {
        self.0.handle_message(now, from, msg)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn poll_output(&mut self, out: &mut Output) {
        self.0.poll_output(out);
        if let Some(p) = &out.persist {
            // The lie: "durable" before the caller has even written it.
            self.0.handle_persisted(Instant::ZERO, p.id);
        }
    }
    fn has_output(&self) -> bool {
        self.0.has_output()
    }
    fn handle_persisted(&mut self, now: Instant, id: PersistId) {
        self.0.handle_persisted(now, id)
    }
    fn handle_log_read(
        &mut self,
        now: Instant,
        read: LogRead,
        result: Result<Vec<Entry>, LogReadFailed>,
    ) -> Result<(), LogReadError> {
        self.0.handle_log_read(now, read, result)
    }
    fn compact(&mut self, now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        self.0.compact(now, index, data)
    }
    fn change_membership(&mut self, now: Instant, change: MembershipChange) -> Result<Proposal, ProposeError> {
        self.0.change_membership(now, change)
    }
    fn transfer_leader(&mut self, now: Instant, to: NodeId) -> Result<(), TransferError> {
        self.0.transfer_leader(now, to)
    }
    fn status(&self) -> Status {
        self.0.status()
    }
    fn peer_status(&self, out: &mut Vec<PeerStatus>) {
        self.0.peer_status(out)
    }
    fn entry_term(&self, index: LogIndex) -> Option<Term> {
        self.0.entry_term(index)
    }
    fn entry(&self, index: LogIndex) -> Option<synod_core::replica::Entry> {
        self.0.entry(index)
    }
}

/// The node the single-node faults strike.
const FAULTY: NodeId = NodeId(1);

/// How long a process of the `Mute` canary talks before it falls silent.
const MUTE_AFTER: Duration = Duration::from_millis(500);

/// Puts `canary`'s replica fault, if it has one, around `replica`, a new
/// process started at `now`. Without a canary, `replica` is returned as is.
pub fn plant(
    canary: Option<Canary>,
    protocol: Protocol,
    now: Instant,
    replica: Box<dyn Replica + Send>,
) -> Box<dyn Replica + Send> {
    match canary {
        Some(
            c @ (Canary::FalseLeader
            | Canary::BlindVotes
            | Canary::CorruptApply
            | Canary::CorruptWrite
            | Canary::SnapshotHole
            | Canary::DuplicateApply
            | Canary::CommitStepsBack
            | Canary::Mute),
        ) if c.applies_to(protocol) => Box::new(Planted { inner: replica, canary: c, born: now, now, struck: false }),
        _ => replica,
    }
}

/// A replica with one planted fault ([`Canary`]).
struct Planted {
    inner: Box<dyn Replica + Send>,
    canary: Canary,
    /// When this process started.
    born: Instant,
    /// The latest time an input carried.
    now: Instant,
    /// A once-per-process fault has struck.
    struck: bool,
}

impl Planted {
    fn seen(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Whether a node-1, once-per-process fault may still strike.
    fn may_strike(&self) -> bool {
        !self.struck && self.inner.id() == FAULTY
    }

    /// Rewrites what the replica is about to hand out.
    fn plant_output(&mut self, out: &mut Output) {
        match self.canary {
            Canary::FalseLeader => {
                let id = self.inner.id();
                for ev in &mut out.events {
                    if let Event::RoleChanged { role: role @ Role::Follower, leader: Some(l), .. } = ev
                        && *l != id
                    {
                        *role = Role::Leader;
                    }
                }
            }
            Canary::CorruptApply if self.may_strike() => {
                self.struck = alter(out.committed.iter_mut().find(|e| e.index.0 >= 2));
            }
            Canary::CorruptWrite if self.may_strike() => {
                let entries = out.persist.as_mut().map_or(&mut [][..], |p| &mut p.entries[..]);
                self.struck = alter(entries.iter_mut().find(|e| e.index.0 >= 2));
            }
            Canary::SnapshotHole => {
                let st = self.inner.status();
                let Some(p) = out.persist.as_mut() else { return };
                // Entries persisted earlier lie beyond the snapshot: storage
                // still holds some of the log after it.
                let kept = st.last_index.0.saturating_sub(p.entries.len() as u64) > st.snapshot_index.0;
                if p.snapshot.is_none() && p.truncate_from.is_none() && st.snapshot_index.0 > 0 && kept {
                    let meta = SnapshotMeta { index: LogIndex(0), term: Term(0), membership: st.membership };
                    p.snapshot = Some(Snapshot { meta, data: Bytes::new() });
                }
            }
            Canary::DuplicateApply => {
                if let Some(i) = out.committed.iter().position(|e| e.index.0 >= 2)
                    && !self.struck
                {
                    self.struck = true;
                    let e = out.committed[i].clone();
                    out.committed.insert(i + 1, e);
                }
            }
            Canary::Mute if self.now.saturating_duration_since(self.born) >= MUTE_AFTER => out.messages.clear(),
            _ => {}
        }
    }
}

/// Gives `e`, if any, one more byte of data: another value, of nearly the
/// same shape. Returns whether there was one.
fn alter(e: Option<&mut Entry>) -> bool {
    let Some(e) = e else { return false };
    let mut v = e.data.to_vec();
    v.push(0xA5);
    e.data = Bytes::from(v);
    true
}

impl Replica for Planted {
    fn id(&self) -> NodeId {
        self.inner.id()
    }
    fn propose(&mut self, now: Instant, data: Bytes) -> Result<Proposal, ProposeError> {
        self.seen(now);
        self.inner.propose(now, data)
    }
    fn read(&mut self, now: Instant, id: ReadId) -> Result<(), ReadError> {
        self.seen(now);
        self.inner.read(now, id)
    }
    fn handle_message(&mut self, now: Instant, from: NodeId, mut msg: Message) -> Result<(), MessageError> {
        self.seen(now);
        if self.canary == Canary::BlindVotes {
            // A log "far ahead" passes the up-to-date check (Raft §5.4.1);
            // a commit index "far ahead" asks about no slot, so the promise
            // reports nothing accepted and the candidate is never behind.
            let far = u64::MAX / 4;
            match &mut msg {
                Message::Raft(raft::Message { body: raft::Body::Vote(v), .. }) => {
                    v.last_index = LogIndex(far);
                    v.last_term = Term(far);
                }
                Message::MultiPaxos(multi::Message { body: multi::Body::Prepare(p), .. }) => p.commit = LogIndex(far),
                _ => {}
            }
        }
        self.inner.handle_message(now, from, msg)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.seen(now);
        self.inner.handle_timeout(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn poll_output(&mut self, out: &mut Output) {
        self.inner.poll_output(out);
        self.plant_output(out);
    }
    fn has_output(&self) -> bool {
        self.inner.has_output()
    }
    fn handle_persisted(&mut self, now: Instant, id: PersistId) {
        self.seen(now);
        self.inner.handle_persisted(now, id)
    }
    fn handle_log_read(
        &mut self,
        now: Instant,
        read: LogRead,
        result: Result<Vec<Entry>, LogReadFailed>,
    ) -> Result<(), LogReadError> {
        self.seen(now);
        self.inner.handle_log_read(now, read, result)
    }
    fn compact(&mut self, now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        self.seen(now);
        self.inner.compact(now, index, data)
    }
    fn change_membership(&mut self, now: Instant, change: MembershipChange) -> Result<Proposal, ProposeError> {
        self.seen(now);
        self.inner.change_membership(now, change)
    }
    fn transfer_leader(&mut self, now: Instant, to: NodeId) -> Result<(), TransferError> {
        self.seen(now);
        self.inner.transfer_leader(now, to)
    }
    fn status(&self) -> Status {
        let mut s = self.inner.status();
        if self.canary == Canary::CommitStepsBack && s.commit.0 >= 11 && s.commit.0 % 4 == 3 {
            s.commit = LogIndex(s.commit.0 - 2);
        }
        s
    }
    fn peer_status(&self, out: &mut Vec<PeerStatus>) {
        self.inner.peer_status(out)
    }
    fn entry_term(&self, index: LogIndex) -> Option<Term> {
        self.inner.entry_term(index)
    }
    fn entry(&self, index: LogIndex) -> Option<Entry> {
        self.inner.entry(index)
    }
}

/// A fault planted in the service a node applies to (`node::Checked`).
#[derive(Debug)]
pub struct ServiceFault {
    canary: Canary,
    /// `LaggingSnapshot`: the state before each of the last three applies,
    /// oldest first.
    recent: VecDeque<Bytes>,
    /// `StaleReads`: the state as of the last tick applied.
    stale: Option<Store>,
    /// `TornTransactions`: the state before the transaction being applied.
    before: Option<Store>,
}

impl ServiceFault {
    /// `canary`'s service fault at node `node`, if it has one.
    pub fn new(canary: Option<Canary>, node: NodeId) -> Option<ServiceFault> {
        match canary? {
            Canary::LaggingSnapshot if node != FAULTY => None,
            c @ (Canary::LaggingSnapshot
            | Canary::TruncatedSnapshot
            | Canary::EarlyLeaseExpiry
            | Canary::StaleLockTable
            | Canary::ReusedToken
            | Canary::StaleReads
            | Canary::TornTransactions) => {
                Some(ServiceFault { canary: c, recent: VecDeque::new(), stale: None, before: None })
            }
            _ => None,
        }
    }

    /// Before `store` applies `command`: the command to apply instead, if
    /// the fault replaces it.
    pub fn command(&mut self, store: &Store, command: &Bytes) -> Option<Bytes> {
        match self.canary {
            Canary::TornTransactions => {
                let is_tx = Command::decode(command.clone()).is_ok_and(|c| matches!(c.op, Op::Exec(_)));
                self.before = is_tx.then(|| store.clone());
                None
            }
            Canary::LaggingSnapshot => {
                if self.recent.len() == 3 {
                    self.recent.pop_front();
                }
                self.recent.push_back(store.snapshot());
                None
            }
            Canary::EarlyLeaseExpiry => {
                if !is_tick(command) {
                    return None;
                }
                let soon = store.now().saturating_add(Duration::from_nanos(TICK));
                let (lease, _) =
                    store.leases().iter().find(|(id, _)| store.leases().deadline(*id).is_some_and(|d| d <= soon))?;
                let admin = Caller { holder: Bytes::new(), admin: true };
                Some(Command::new(Op::LeaseRevoke { lease }).by(admin).encode())
            }
            _ => None,
        }
    }

    /// After `store` applied `command`: what the checks see of its tables.
    pub fn applied(&mut self, store: &Store, command: &Bytes, before: &Tables, after: &mut Tables) {
        match self.canary {
            Canary::StaleLockTable => after.owners = before.owners.clone(),
            Canary::ReusedToken => {
                for (name, owner) in &mut after.owners {
                    if let Some(held) = before.owners.get(name)
                        && held.lease != owner.lease
                    {
                        owner.token = held.token;
                    }
                }
            }
            Canary::StaleReads if is_tick(command) => self.stale = Some(store.clone()),
            _ => {}
        }
    }

    /// The reply the service gives for `command` instead of `reply`.
    pub fn reply(&mut self, command: &Bytes, reply: Bytes) -> Bytes {
        let Some(before) = self.before.take() else { return reply };
        let (Ok(cmd), Ok(Reply::Exec(Some(mut replies)))) =
            (Command::decode(command.clone()), Reply::decode(reply.clone()))
        else {
            return reply;
        };
        let Op::Exec(tx) = cmd.op else { return reply };
        for (r, step) in replies.iter_mut().zip(&tx.steps) {
            if let Step::Read(q) = step {
                *r = before.answer(q);
            }
        }
        Reply::Exec(Some(replies)).encode()
    }

    /// The snapshot the service hands out instead of `store`'s, if any.
    pub fn snapshot(&self, store: &Store) -> Option<Bytes> {
        match self.canary {
            Canary::LaggingSnapshot => self.recent.front().cloned(),
            Canary::TruncatedSnapshot => {
                let s = store.snapshot();
                Some(s.slice(..s.len().saturating_sub(1)))
            }
            _ => None,
        }
    }

    /// The store reads are answered from instead of the current one, if any.
    pub fn reads(&self) -> Option<&Store> {
        self.stale.as_ref()
    }

    /// The service's state was replaced by a snapshot.
    pub fn restored(&mut self) {
        self.recent.clear();
        self.stale = None;
    }
}

fn is_tick(command: &Bytes) -> bool {
    Command::decode(command.clone()).is_ok_and(|c| c.is_tick())
}
