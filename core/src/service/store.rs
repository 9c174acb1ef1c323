//! The combined replicated service: the KV map, leases, locks and client
//! sessions in one deterministic state machine.
//!
//! # Driving it
//!
//! Every replica runs a [`Store`] and applies committed command entries to
//! it in log order ([`Service::apply`]); queries are answered from applied
//! state once a read barrier says it is current ([`Service::query`]). The
//! leader also proposes the passage of time, [`Store::tick`], every tick
//! interval: that is the only way time enters, so every replica expires the
//! same leases at the same entry. The tick interval is the granularity of
//! expiry; keep it well below the shortest TTL.
//!
//! ```
//! use synod_core::id::NodeId;
//! use synod_core::replica::{EntryKind, Output, Recovered, Replica};
//! use synod_core::service::kv::{KvCommand, KvQuery, KvReply};
//! use synod_core::service::{Command, Config, Op, Query, Reply, Service, Store};
//! use synod_core::solo::Solo;
//! use synod_core::time::{Duration, Instant};
//! use bytes::Bytes;
//!
//! /// Drains the replica, applying committed entries; returns the replies.
//! fn drive(replica: &mut Solo, store: &mut Store, now: Instant) -> Vec<Reply> {
//!     let (mut out, mut replies) = (Output::default(), Vec::new());
//!     loop {
//!         replica.poll_output(&mut out);
//!         if out.is_empty() {
//!             return replies;
//!         }
//!         if let Some(write) = out.persist.take() {
//!             replica.handle_persisted(now, write.id); // after an fsync, in real life
//!         }
//!         for entry in out.committed.drain(..).filter(|e| e.kind == EntryKind::Command) {
//!             replies.push(Reply::decode(store.apply(entry.index, &entry.data)).unwrap());
//!         }
//!         out.clear();
//!     }
//! }
//!
//! let mut replica = Solo::new(NodeId(1), Recovered::default()).unwrap();
//! let mut store = Store::new(Config::default());
//! let t0 = Instant::from_millis(1_000);
//! let propose = |r: &mut Solo, op: Op| r.propose(t0, Command::new(op).encode()).unwrap();
//!
//! // A lease, a key attached to it and a lock held under it.
//! propose(&mut replica, Op::LeaseGrant { ttl: Duration::from_secs(10) });
//! let [Reply::Lease { id: lease, .. }] = drive(&mut replica, &mut store, t0)[..] else { panic!() };
//! let (key, lock) = (Bytes::from_static(b"leader"), Bytes::from_static(b"db"));
//! propose(&mut replica, Op::Kv { cmd: KvCommand::Set { key: key.clone(), value: Bytes::from_static(b"n1") }, lease: Some(lease) });
//! propose(&mut replica, Op::Acquire { lock: lock.clone(), lease });
//! let replies = drive(&mut replica, &mut store, t0);
//! assert!(matches!(replies[1], Reply::Locked { .. })); // its token: the acquire's log index
//!
//! // The leader proposes a tick every second. The lease's clock starts at
//! // the first tick after the grant (t0 + 1 s) and runs out 10 s later.
//! for s in 1..=11 {
//!     let now = t0 + Duration::from_secs(s);
//!     replica.propose(now, Store::tick(now)).unwrap();
//!     drive(&mut replica, &mut store, now);
//!     let held = store.answer(&Query::LockOwner { lock: lock.clone() }) != Reply::Owner(None);
//!     assert_eq!(held, s < 11);
//! }
//! assert_eq!(store.answer(&Query::Kv(KvQuery::Get { key })), Reply::Kv(KvReply::Value(None)));
//! ```
//!
//! Clients that retry wrap their commands in a session
//! ([`Command::in_session`] after [`Op::SessionOpen`]) so a retry is never
//! applied twice; see [`super::session`].

use super::command::{COMMAND_VERSION, Caller, Command, Op, Query, VERSION, VERSIONED_FROM};
use super::keyspace::MAX_KEY_TTL;
use super::kv::{Kv, KvCommand, KvReply, Limits};
use super::leases::{Lease, Leases};
use super::locks::{Acquired, Locks};
use super::reply::{Reply, StoreError};
use super::session::{Bounds, Sessions};
use super::{Admitted, RestoreError, Service};
use crate::id::LogIndex;
use crate::lease::{FencingToken, LeaseId};
use crate::time::{Duration, Instant};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;

/// The store's configuration. Every replica must run the same one: limits
/// and durations decide replies, and replies must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Key and value size limits; lock names obey the key limit.
    pub limits: Limits,
    /// The longest TTL a lease may be granted.
    pub max_ttl: Duration,
    /// A session expires after this much log time without a command.
    pub session_idle: Duration,
    /// How many sessions, and how large a saved reply, the table keeps.
    pub sessions: Bounds,
    /// When a new leader's first tick applies, every lease and session has
    /// at least this long left (Chubby §2.8's grace period, etcd's lease
    /// renewal on promotion): holders get time to find the new leader.
    pub leader_grace: Duration,
}

impl Config {
    /// Refuses a client's command a store of this configuration would
    /// refuse whatever its state: a tick (only the leader's own driver
    /// proposes time), or a size or TTL past the limits. A node calls this
    /// (through [`Service::check`]) before proposing, and a front end may
    /// call it before it even hands a command over, so such a command never
    /// reaches the log; applying runs the same checks but the tick one,
    /// since a tick in the log is the leader's.
    pub fn admit(&self, cmd: &Command) -> Result<(), Reply> {
        if cmd.is_tick() {
            return Err(Reply::Error(StoreError::InternalCommand));
        }
        self.check_op(&cmd.op)
    }

    /// The state-independent checks of [`Config::admit`], in the order
    /// applying would meet them.
    fn check_op(&self, op: &Op) -> Result<(), Reply> {
        let ttl = |ttl: &Duration| {
            if ttl.is_zero() || *ttl > self.max_ttl {
                return Err(Reply::Error(StoreError::InvalidTtl));
            }
            Ok(())
        };
        let kv = |cmd: &KvCommand| self.limits.check(cmd).map_err(|e| Reply::Kv(KvReply::Error(e)));
        match op {
            Op::Kv { cmd, .. } => kv(cmd),
            // Key TTLs are bounded by `MAX_KEY_TTL`, not `max_ttl`: they
            // hold no lock, and each key holds at most one.
            Op::Key(cmd) if cmd.ttl().is_some_and(|d| d.is_zero() || d > MAX_KEY_TTL) => {
                Err(Reply::Error(StoreError::InvalidTtl))
            }
            Op::Key(cmd) => cmd.check(&self.limits).map_err(|e| Reply::Kv(KvReply::Error(e))),
            Op::Exec(tx) => tx.check(self.limits.max_key_bytes).map_err(Reply::Error),
            Op::KvLeased { cmd, ttl: t } => ttl(t).and_then(|()| kv(cmd)),
            Op::LeaseGrant { ttl: t } => ttl(t),
            Op::Acquire { lock, .. }
            | Op::TryAcquire { lock, .. }
            | Op::Release { lock, .. }
            | Op::Cancel { lock, .. }
                if lock.len() > self.limits.max_key_bytes =>
            {
                Err(Reply::Error(StoreError::KeyTooLarge))
            }
            _ => Ok(()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_ttl: Duration::from_secs(24 * 3600),
            session_idle: Duration::from_secs(60),
            sessions: Bounds::default(),
            leader_grace: Duration::from_secs(2),
        }
    }
}

/// The KV map, leases, locks and sessions as one replicated [`Service`].
/// See the [module docs](self) for how to drive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub(super) config: Config,
    pub(super) kv: Kv,
    /// Which lease each leased key is attached to.
    pub(super) key_leases: BTreeMap<Bytes, LeaseId>,
    pub(super) leases: Leases,
    pub(super) locks: Locks,
    pub(super) sessions: Sessions,
    /// Log time: the sum of the elapsed times ticks carried (or, for
    /// legacy ticks, the largest time one named).
    pub(super) now: Instant,
    /// The term of the leader whose ticks log time now follows.
    pub(super) clock_term: Option<u64>,
    pub(super) applied: LogIndex,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(Config::default())
    }
}

impl Store {
    /// An empty store.
    pub fn new(config: Config) -> Store {
        Store {
            config,
            kv: Kv::new(config.limits),
            key_leases: BTreeMap::new(),
            leases: Leases::new(),
            locks: Locks::new(),
            sessions: Sessions::bounded(config.session_idle, config.sessions),
            now: Instant::ZERO,
            clock_term: None,
            applied: LogIndex(0),
        }
    }

    /// The encoded tick of the legacy time base ([`Op::Tick`]): log time
    /// becomes `now` if that is later. For tests and older logs; a node
    /// proposes [`Store::clock_tick`].
    pub fn tick(now: Instant) -> Bytes {
        Command::new(Op::Tick { now }).encode()
    }

    /// The encoded tick the leader of `term` proposes every tick interval:
    /// `elapsed` on its own monotonic clock since its previous one (zero
    /// for its first).
    pub fn clock_tick(term: u64, elapsed: Duration) -> Bytes {
        Command::new(Op::Clock { term, elapsed }).encode()
    }

    /// Applies a decoded command committed at `index`.
    pub fn execute(&mut self, index: LogIndex, cmd: Command) -> Reply {
        self.step(index, Ok(cmd), index.0)
    }

    /// Answers a decoded query from applied state.
    pub fn answer(&self, q: &Query) -> Reply {
        match q {
            Query::Kv(q) => Reply::Kv(self.kv.answer(q)),
            Query::Leases => {
                // Sized before it is built; a lease takes at most 26 bytes.
                if self.leases.len().saturating_mul(26) > self.config.limits.max_reply_bytes {
                    return Reply::Error(StoreError::ReplyTooLarge);
                }
                Reply::Leases(self.leases.list(self.now))
            }
            Query::LeaseTtl { lease } => match self.leases.info(*lease, self.now) {
                Ok(info) => Reply::LeaseTtl(info),
                Err(e) => Reply::Error(e.into()),
            },
            Query::LockOwner { lock } => Reply::Owner(self.locks.owner(lock)),
            Query::Key(q) => self.answer_key(q),
            Query::Versions { keys } => Reply::Versions(keys.iter().map(|k| self.kv.version(k)).collect()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The KV map.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// The lease table.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The lock table.
    pub fn locks(&self) -> &Locks {
        &self.locks
    }

    /// The session table.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Log time: the largest `now` of the ticks applied.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The lease `key` is attached to.
    pub fn key_lease(&self, key: &[u8]) -> Option<LeaseId> {
        self.key_leases.get(key).copied()
    }

    /// Applies the entry at `index`; its changes to keys are stamped
    /// `stamp` (see [`VERSIONED_FROM`]).
    fn step(&mut self, index: LogIndex, cmd: Result<Command, StoreError>, stamp: u64) -> Reply {
        // Tokens are indexes: applying an index twice could hand one out twice.
        if index <= self.applied {
            return Reply::Error(StoreError::StaleIndex);
        }
        self.applied = index;
        self.kv.set_stamp(stamp);
        let reply = self.step_at(index, cmd);
        self.kv.set_stamp(0);
        reply
    }

    fn step_at(&mut self, index: LogIndex, cmd: Result<Command, StoreError>) -> Reply {
        let cmd = match cmd {
            Ok(cmd) if cmd.session_allowed() => cmd,
            Ok(_) => return Reply::Error(StoreError::Malformed),
            Err(e) => return Reply::Error(e),
        };
        let Some(s) = cmd.session else { return self.run(index, &cmd.caller, cmd.op) };
        // Raft thesis §6.3: apply a session's command once; answer retries from the cache.
        match self.sessions.begin(s.client, s.seq, &cmd.caller, index.0) {
            Err(e) => Reply::Error(e.into()),
            Ok(Some(cached)) => cached,
            Ok(None) => {
                let reply = self.run(index, &cmd.caller, cmd.op);
                self.sessions.finish(s.client, s.seq, reply.clone());
                reply
            }
        }
    }

    pub(super) fn run(&mut self, index: LogIndex, caller: &Caller, op: Op) -> Reply {
        if let Err(refusal) = self.config.check_op(&op) {
            return refusal;
        }
        let token = FencingToken::from_index(index);
        let result = match op {
            Op::Kv { cmd, lease } => match lease.map(|l| self.lease_of(l, caller)).transpose() {
                Ok(_) => Ok(self.write(token, cmd, |_| lease)),
                Err(e) => Err(e),
            },
            Op::KvLeased { cmd, ttl } => {
                Ok(self.write(token, cmd, |leases| Some(leases.grant(ttl, caller.holder.clone()))))
            }
            Op::Key(cmd) => Ok(self.run_key(token, cmd)),
            Op::Exec(tx) => Ok(self.run_transaction(index, caller, tx)),
            Op::LeaseGrant { ttl } => Ok(Reply::Lease { id: self.leases.grant(ttl, caller.holder.clone()), ttl }),
            Op::LeaseKeepAlive { lease } => self
                .lease_of(lease, caller)
                .and_then(|_| self.leases.keep_alive(lease).map_err(Into::into))
                .map(|ttl| Reply::Lease { id: lease, ttl }),
            Op::LeaseRevoke { lease } => self.lease_of(lease, caller).and_then(|_| {
                let l = self.leases.revoke(lease)?;
                self.release(token, [(lease, l)]);
                Ok(Reply::Ok)
            }),
            Op::Acquire { lock, lease } => self.acquire(token, &lock, lease, caller, true),
            Op::TryAcquire { lock, lease } => self.acquire(token, &lock, lease, caller, false),
            Op::Release { lock, lease, token: held } => self.not_anothers(lease, caller).and_then(|()| {
                let leases = &self.leases;
                self.locks.release(&lock, lease, held, token, |l| leases.is_live(l))?;
                self.leases.remove_lock(lease, &lock);
                Ok(Reply::Ok)
            }),
            Op::Cancel { lock, lease } => self.not_anothers(lease, caller).map(|()| {
                let waiting = self.locks.cancel(&lock, lease);
                if waiting {
                    self.leases.remove_lock(lease, &lock);
                }
                Reply::Bool(waiting)
            }),
            Op::SessionOpen => Ok(Reply::Session { client: self.sessions.open(caller.holder.clone(), index.0) }),
            Op::SessionClose { client } => self.sessions.close(client, caller).map(Reply::Bool).map_err(Into::into),
            Op::Tick { now } => {
                self.advance(token, now);
                Ok(Reply::Ok)
            }
            Op::Clock { term, elapsed } => {
                self.clock(token, term, elapsed);
                Ok(Reply::Ok)
            }
        };
        result.unwrap_or_else(Reply::Error)
    }

    /// Refuses a lease that is not live, or that `caller` may not act on.
    fn lease_of(&self, id: LeaseId, caller: &Caller) -> Result<(), StoreError> {
        if !self.leases.get(id)?.belongs_to(caller) {
            return Err(StoreError::NotLeaseHolder);
        }
        Ok(())
    }

    /// Refuses `caller` a live lease of someone else's; an ended lease is
    /// left to the operation to judge.
    fn not_anothers(&self, id: LeaseId, caller: &Caller) -> Result<(), StoreError> {
        match self.leases.get(id) {
            Ok(l) if !l.belongs_to(caller) => Err(StoreError::NotLeaseHolder),
            _ => Ok(()),
        }
    }

    /// A KV write, then the key's lease follows the write (etcd's put): the
    /// lease `lease` picks — existing, or granted now — if the write
    /// changed the key and left it in place, none otherwise. Nothing is
    /// granted for a write that changed nothing.
    fn write(
        &mut self,
        token: FencingToken,
        cmd: KvCommand,
        lease: impl FnOnce(&mut Leases) -> Option<LeaseId>,
    ) -> Reply {
        let key = cmd.key().clone();
        let reply = self.kv.execute(cmd);
        // Delete and Cas answer whether they changed anything; failures change nothing.
        let changed = match reply {
            KvReply::Error(_) => false,
            KvReply::Bool(b) => b,
            _ => true,
        };
        if changed {
            let attach = if self.kv.contains(&key) { lease(&mut self.leases) } else { None };
            self.set_key_lease(token, &key, attach);
        }
        Reply::Kv(reply)
    }

    /// Attaches `key` to `lease` (or to none), detaching it from its old
    /// one; a key's own TTL lease left with nothing attached ends here, in
    /// the entry whose token is `token`.
    pub(super) fn set_key_lease(&mut self, token: FencingToken, key: &[u8], lease: Option<LeaseId>) {
        let old = self.key_leases.get(key).copied();
        if old == lease {
            return;
        }
        // A TTL change is a change of the key, to its watchers.
        self.kv.touch(key);
        if let Some(old) = old {
            self.key_leases.remove(key);
            self.leases.detach_key(old, key);
            if self.leases.get(old).is_ok_and(|l| l.for_key() && l.is_unused())
                && let Ok(ended) = self.leases.revoke(old)
            {
                self.release(token, [(old, ended)]);
            }
        }
        if let Some(new) = lease {
            let key = Bytes::copy_from_slice(key);
            self.key_leases.insert(key.clone(), new);
            self.leases.attach_key(new, key);
        }
    }

    fn acquire(
        &mut self,
        token: FencingToken,
        lock: &[u8],
        lease: LeaseId,
        caller: &Caller,
        wait: bool,
    ) -> Result<Reply, StoreError> {
        self.lease_of(lease, caller)?;
        // Copy: a slice would pin the whole received frame in memory.
        let lock = Bytes::copy_from_slice(lock);
        Ok(match self.locks.acquire(&lock, lease, token, wait) {
            Acquired::Held(token) => {
                self.leases.add_lock(lease, lock);
                Reply::Locked { token }
            }
            Acquired::Queued { position } => {
                self.leases.add_lock(lease, lock);
                Reply::Queued { position }
            }
            Acquired::Busy(owner) => Reply::Busy(owner),
        })
    }

    /// A tick of the leader of `term`. Its elapsed time counts only if the
    /// previous tick was that same leader's: between leaders nobody measured
    /// anything, so the hand-over is not counted, and every deadline is put
    /// at least `leader_grace` away. A deposed leader's tick applied after
    /// its successor's counts nothing.
    fn clock(&mut self, token: FencingToken, term: u64, elapsed: Duration) {
        match self.clock_term {
            Some(t) if t == term => self.advance(token, self.now.saturating_add(elapsed)),
            Some(t) if t > term => {}
            _ => {
                self.clock_term = Some(term);
                let floor = self.now.saturating_add(self.config.leader_grace);
                self.leases.extend_to(floor);
                self.sessions.extend_to(floor);
                self.advance(token, self.now);
            }
        }
    }

    /// A tick: log time moves to the max seen; idle sessions and lapsed
    /// leases end.
    fn advance(&mut self, token: FencingToken, now: Instant) {
        self.now = self.now.max(now);
        let mut idle = Vec::new();
        self.sessions.advance(self.now, &mut idle);
        let mut ended = Vec::new();
        self.leases.advance(self.now, &mut ended);
        self.release(token, ended);
    }

    /// Deletes the keys and releases the locks of leases that ended in the
    /// entry whose token is `token`. Every ended lease is already out of the
    /// table, so a lock is handed only to a live waiter, and at most once
    /// per entry: tokens stay strictly increasing.
    fn release(&mut self, token: FencingToken, ended: impl IntoIterator<Item = (LeaseId, Lease)>) {
        for (id, lease) in ended {
            for key in lease.keys() {
                self.kv.execute(KvCommand::Delete { key: key.clone() });
                self.key_leases.remove(key);
            }
            for name in lease.locks() {
                let leases = &self.leases;
                self.locks.drop_lease(name, id, token, |l| leases.is_live(l));
            }
        }
    }
}

fn decode_command(command: &Bytes) -> Result<Command, StoreError> {
    match command.first() {
        Some(1..=COMMAND_VERSION) => Command::decode(command.clone()).map_err(|_| StoreError::Malformed),
        Some(_) => Err(StoreError::UnsupportedVersion),
        None => Err(StoreError::Malformed),
    }
}

fn decode_query(query: &Bytes) -> Result<Query, StoreError> {
    match query.first() {
        Some(&VERSION) => Query::decode(query.clone()).map_err(|_| StoreError::Malformed),
        Some(_) => Err(StoreError::UnsupportedVersion),
        None => Err(StoreError::Malformed),
    }
}

impl Service for Store {
    fn apply(&mut self, index: LogIndex, command: &Bytes) -> Bytes {
        let stamp = if command.first().is_some_and(|&v| v >= VERSIONED_FROM) { index.0 } else { 0 };
        self.step(index, decode_command(command), stamp).encode()
    }

    fn query(&self, query: &Bytes) -> Bytes {
        match decode_query(query) {
            Ok(q) => self.answer(&q),
            Err(e) => Reply::Error(e),
        }
        .encode()
    }

    fn check(&self, command: &Bytes) -> Result<Admitted, Bytes> {
        let cmd = decode_command(command).map_err(|e| Reply::Error(e).encode())?;
        self.config.admit(&cmd).map_err(|r| r.encode())?;
        Ok(Admitted::new(cmd.grows()).resend_safe(cmd.session.is_some()))
    }

    fn snapshot(&self) -> Bytes {
        self.encode_snapshot()
    }

    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError> {
        *self = Store::decode_snapshot(self.config, snapshot)?;
        Ok(())
    }

    fn applied(&self) -> LogIndex {
        self.applied
    }
}
