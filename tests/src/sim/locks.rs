//! Lock clients and the lease/lock properties checked on every apply:
//! fencing tokens strictly increase per lock, a holder's lease is live,
//! and no lease expires before its deadline in log time.

use super::invariants::Violation;
use bytes::Bytes;
use std::collections::BTreeMap;
use synod_core::lease::{FenceGuard, FencingToken, LeaseId};
use synod_core::service::{Command, Op, Reply, Store};
use synod_core::time::{Duration, Instant};

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
}

impl LockClient {
    /// A client for `lock`.
    pub fn new(lock: Bytes) -> Self {
        LockClient { lock, state: LockState::NoLease, current: None, seq: 0, leader_hint: None }
    }

    /// The command for its next step.
    pub fn next_command(&self, ttl: Duration) -> Bytes {
        let op = match self.state {
            LockState::NoLease => Op::LeaseGrant { ttl },
            LockState::Waiting(lease) => Op::Acquire { lock: self.lock.clone(), lease },
            LockState::Holding(lease, token) => Op::Release { lock: self.lock.clone(), lease, token },
        };
        Command::new(op).encode()
    }

    /// Moves on after a reply (`None`: no reply, retry the same step).
    /// Returns the token if it was just granted the lock.
    pub fn on_reply(&mut self, reply: Option<Reply>) -> Option<FencingToken> {
        let reply = reply?;
        match (self.state, reply) {
            (LockState::NoLease, Reply::Lease { id, .. }) => self.state = LockState::Waiting(id),
            (LockState::Waiting(lease), Reply::Locked { token }) => {
                self.state = LockState::Holding(lease, token);
                return Some(token);
            }
            (LockState::Waiting(_), Reply::Queued { .. }) => {}
            (LockState::Holding(lease, _), Reply::Ok) => self.state = LockState::Waiting(lease),
            // Lease gone, lock lost, or anything unexpected: start over.
            _ => self.state = LockState::NoLease,
        }
        None
    }
}

/// What the checker needs of the store before a command applies.
pub struct Before {
    deadlines: BTreeMap<u64, Option<Instant>>,
    owners: BTreeMap<Bytes, (LeaseId, FencingToken)>,
}

/// Records the lease deadlines and lock owners before an apply.
pub fn before(store: &Store) -> Before {
    Before {
        deadlines: store.leases().iter().map(|(id, _)| (id.0, store.leases().deadline(id))).collect(),
        owners: store.locks().iter().map(|(name, o)| (name.clone(), (o.lease, o.token))).collect(),
    }
}

/// Checks the lease and lock properties across one apply of `command`.
pub fn check(before: &Before, store: &Store, command: &Bytes) -> Result<(), Violation> {
    let revoked = match Command::decode(command.clone()) {
        Ok(Command { op: Op::LeaseRevoke { lease }, .. }) => Some(lease),
        _ => None,
    };
    let now = store.now();
    for (&id, &deadline) in &before.deadlines {
        let id = LeaseId(id);
        if store.leases().is_live(id) || revoked == Some(id) {
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
    for (name, owner) in store.locks().iter() {
        if !store.leases().is_live(owner.lease) {
            return Err(Violation::new("lock held under a live lease", format!("{owner:?} holds {name:?}")));
        }
        if let Some(&(lease, token)) = before.owners.get(name)
            && (lease, token) != (owner.lease, owner.token)
            && owner.token <= token
        {
            return Err(Violation::new(
                "fencing tokens increase",
                format!("{name:?} went from {token:?} to {:?}", owner.token),
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
