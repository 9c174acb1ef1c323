//! Lock clients and the lease/lock properties: on every apply, fencing
//! tokens strictly increase per lock, a holder's lease is live, and no
//! lease expires before its deadline in log time; and on true time (the
//! simulator's global clock, which no node reads), no two clients believe
//! they hold one lock at once.
//!
//! A client believes it holds a lock from the reply that granted it until
//! it asks to release it or its lease may have ended: the lease's TTL,
//! counted from when the client *asked* for the lease and shortened by the
//! largest clock drift (Gray & Cheriton's bound, `core::service::clock`).
//! A server that measures lease time on anything but the leader's own
//! clock (a process epoch, another node's clock) ends leases early on true
//! time, and this check catches it; log-time checks cannot.

use super::invariants::Violation;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::lease::{FenceGuard, FencingToken, LeaseId};
use synod_core::service::{Command, LockOwner, Op, Reply, Store};
use synod_core::time::{Duration, Instant, duration_nanos};

/// Where a lock client is in its cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Needs a lease.
    NoLease,
    /// Has a lease, wants the lock.
    Waiting(LeaseId),
    /// Holds the lock with this token.
    Holding(LeaseId, FencingToken),
}

/// A client that repeatedly takes a lease, acquires a lock, holds it a
/// while and releases it.
#[derive(Debug)]
pub struct LockClient {
    /// Which lock it contends for.
    pub lock: Bytes,
    /// Its state.
    pub state: LockState,
    /// Its request in flight, by sequence number.
    pub current: Option<u64>,
    /// The next request's sequence number.
    pub seq: u64,
    /// Where it believes the leader is.
    pub leader_hint: Option<usize>,
    /// The TTL it asks its leases for.
    pub ttl: Duration,
    /// True time its request in flight was sent.
    sent_at: u64,
    /// True time it asked for the lease it holds.
    lease_asked: u64,
    /// Until when (true time) it believes it holds the lock.
    pub believed_until: Option<u64>,
}

impl LockClient {
    /// A client for `lock`.
    pub fn new(lock: Bytes, ttl: Duration) -> Self {
        LockClient {
            lock,
            state: LockState::NoLease,
            current: None,
            seq: 0,
            leader_hint: None,
            ttl,
            sent_at: 0,
            lease_asked: 0,
            believed_until: None,
        }
    }

    /// It sends its next request at true time `now`. Asking to release
    /// the lock ends its belief that it holds it.
    pub fn sent(&mut self, now: u64) {
        self.sent_at = now;
        if matches!(self.state, LockState::Holding(..)) {
            self.believed_until = None;
        }
    }

    /// Whether it believes it holds its lock at true time `now`.
    pub fn believes(&self, now: u64) -> bool {
        self.believed_until.is_some_and(|t| now < t)
    }

    /// The command for its next step.
    pub fn next_command(&self) -> Bytes {
        let op = match self.state {
            LockState::NoLease => Op::LeaseGrant { ttl: self.ttl },
            LockState::Waiting(lease) => Op::Acquire { lock: self.lock.clone(), lease },
            LockState::Holding(lease, token) => Op::Release { lock: self.lock.clone(), lease, token },
        };
        Command::new(op).encode()
    }

    /// Moves on after a reply (`None`: no reply, retry the same step).
    /// Returns the token if it was just granted the lock. `max_ppm` is the
    /// largest drift of any clock that measures its lease.
    pub fn on_reply(&mut self, reply: Option<Reply>, max_ppm: i64) -> Option<FencingToken> {
        let reply = reply?;
        match (self.state, reply) {
            (LockState::NoLease, Reply::Lease { id, .. }) => {
                self.state = LockState::Waiting(id);
                self.lease_asked = self.sent_at;
            }
            (LockState::Waiting(lease), Reply::Locked { token }) => {
                self.state = LockState::Holding(lease, token);
                let ttl = duration_nanos(self.ttl) as u128;
                let safe = ttl * 1_000_000 / (1_000_000 + max_ppm.max(0) as u128);
                self.believed_until = Some(self.lease_asked + safe as u64);
                return Some(token);
            }
            (LockState::Waiting(_), Reply::Queued { .. }) => {}
            (LockState::Holding(lease, _), Reply::Ok) => self.state = LockState::Waiting(lease),
            // Lease gone, lock lost, or anything unexpected: start over.
            _ => {
                self.state = LockState::NoLease;
                self.believed_until = None;
            }
        }
        None
    }
}

/// Checks that no client other than `holder`, just granted its lock at
/// true time `now`, still believes it holds that lock. A grant that
/// arrives after its lease may have ended (a slow reply) is no hold: the
/// holder does not believe it, so it is not checked.
pub fn check_exclusive(clients: &[LockClient], holder: usize, now: u64) -> Result<(), Violation> {
    if !clients[holder].believes(now) {
        return Ok(());
    }
    let lock = &clients[holder].lock;
    for (c, other) in clients.iter().enumerate() {
        if c != holder && other.lock == *lock && other.believes(now) {
            return Err(Violation::new(
                "one lock holder at a time (true time)",
                format!(
                    "client {holder} was granted {lock:?} at {now} ns while client {c} believes it holds it until {} ns",
                    other.believed_until.unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

/// The lease and lock tables as the checks see them, taken from a store
/// before and after each apply.
#[derive(Clone, Debug)]
pub struct Tables {
    /// Log time.
    pub now: Instant,
    /// Live leases, with their deadlines (`None`: not yet counting).
    pub leases: BTreeMap<LeaseId, Option<Instant>>,
    /// Each held lock's owner.
    pub owners: BTreeMap<Bytes, LockOwner>,
    /// Leases that are a key's own TTL: they hold no lock, and end when
    /// their key lets go of them, deadline or not.
    pub key_ttls: BTreeSet<LeaseId>,
}

/// The tables before an apply, to [`check`] the store after it against.
pub fn before(store: &Store) -> Tables {
    tables(store)
}

/// The store's lease and lock tables.
pub fn tables(store: &Store) -> Tables {
    Tables {
        now: store.now(),
        leases: store.leases().iter().map(|(id, _)| (id, store.leases().deadline(id))).collect(),
        owners: store.locks().iter().map(|(name, o)| (name.clone(), o)).collect(),
        key_ttls: store.leases().iter().filter(|(_, l)| l.for_key()).map(|(id, _)| id).collect(),
    }
}

/// Checks the lease and lock properties across one apply of `command`
/// that left `store`.
pub fn check(before: &Tables, store: &Store, command: &Bytes) -> Result<(), Violation> {
    check_tables(before, &tables(store), command)
}

/// Checks the lease and lock properties across one apply of `command`,
/// from the tables before it to the tables after.
pub fn check_tables(before: &Tables, after: &Tables, command: &Bytes) -> Result<(), Violation> {
    let op = Command::decode(command.clone()).map(|c| c.op).ok();
    let revoked = match op {
        Some(Op::LeaseRevoke { lease }) => Some(lease),
        _ => None,
    };
    let writes_keys = matches!(op, Some(Op::Key(_) | Op::Kv { .. } | Op::KvLeased { .. }));
    let now = after.now;
    for (&id, &deadline) in &before.leases {
        if after.leases.contains_key(&id) || revoked == Some(id) || (writes_keys && before.key_ttls.contains(&id)) {
            continue;
        }
        match deadline {
            Some(d) if d <= now => {}
            _ => {
                return Err(Violation::new(
                    "no early lease expiry",
                    format!("{id:?} ended at log time {now:?}, deadline {deadline:?}"),
                ));
            }
        }
    }
    for (name, owner) in &after.owners {
        if !after.leases.contains_key(&owner.lease) {
            return Err(Violation::new("lock held under a live lease", format!("{owner:?} holds {name:?}")));
        }
        if let Some(held) = before.owners.get(name)
            && held != owner
            && owner.token <= held.token
        {
            return Err(Violation::new(
                "fencing tokens increase",
                format!("{name:?} went from {:?} to {:?}", held.token, owner.token),
            ));
        }
    }
    Ok(())
}

/// The resource a lock protects: it admits an action only with a token at
/// least as new as any it has seen (Chubby's sequencer check).
#[derive(Debug, Default)]
pub struct Resource {
    guards: BTreeMap<Bytes, FenceGuard>,
    /// Actions refused as coming from a stale holder.
    pub refused: u64,
    /// Actions admitted.
    pub admitted: u64,
}

impl Resource {
    /// A holder with `token` acts on `lock`.
    pub fn act(&mut self, lock: &Bytes, token: FencingToken) {
        match self.guards.entry(lock.clone()).or_default().admit(token) {
            Ok(()) => self.admitted += 1,
            Err(_) => self.refused += 1,
        }
    }
}
