//! Named locks with FIFO wait queues, each held under a lease.
//!
//! A lock's holder and waiters are leases ([`LeaseId`]): a client owns a
//! lock for as long as it keeps the lease alive, as in etcd's lock service
//! and Chubby, where locks belong to a session. Waiters are granted in
//! arrival order, like ZooKeeper's lock recipe over sequential nodes,
//! without the herd: only the head of the queue is granted.
//!
//! Every grant carries a [`FencingToken`]: the index of the log entry that
//! granted it (an acquire, or the release, revoke or tick that handed the
//! lock on). An entry grants a lock at most once — the [`super::Store`]
//! removes every lease that ends in an entry before handing its locks on,
//! and only to live waiters — so tokens of one lock strictly increase.
//!
//! A waiter learns it was granted the lock by asking again: acquire is
//! idempotent (the holder gets its token back, a waiter its place in the
//! queue) and the `LockOwner` query names the holder and its token.

use crate::lease::{FencingToken, LeaseId};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

/// Who holds a lock, and the token of that grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockOwner {
    /// The holder's lease.
    pub lease: LeaseId,
    /// The grant's fencing token.
    pub token: FencingToken,
}

/// The outcome of an acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lease holds the lock (now, or already) under this token.
    Held(FencingToken),
    /// The lease waits; `position` 1 is next in line.
    Queued {
        /// Place in the queue, from 1.
        position: u64,
    },
    /// A try-acquire found the lock held by someone else.
    Busy(LockOwner),
}

/// Why a release was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock is not held under this lease and token.
    #[error("not the lock's holder")]
    NotHolder,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lock {
    owner: LockOwner,
    waiters: VecDeque<LeaseId>,
}

/// The lock table. A lock exists while it is held; a lock without a holder
/// has no waiters, because a freed lock goes straight to the queue's head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locks {
    table: BTreeMap<Bytes, Lock>,
}

impl Locks {
    /// An empty table.
    pub fn new() -> Locks {
        Locks::default()
    }

    /// Acquires `name` for `lease`, granting it with `token` if free.
    /// Waits in the queue if `wait`, else reports who holds it.
    pub fn acquire(&mut self, name: &Bytes, lease: LeaseId, token: FencingToken, wait: bool) -> Acquired {
        let Some(lock) = self.table.get_mut(name) else {
            let owner = LockOwner { lease, token };
            self.table.insert(name.clone(), Lock { owner, waiters: VecDeque::new() });
            return Acquired::Held(token);
        };
        if lock.owner.lease == lease {
            return Acquired::Held(lock.owner.token);
        }
        if !wait {
            // A waiter that also tries keeps its place in line.
            return Acquired::Busy(lock.owner);
        }
        if let Some(i) = lock.waiters.iter().position(|&w| w == lease) {
            return Acquired::Queued { position: i as u64 + 1 };
        }
        lock.waiters.push_back(lease);
        Acquired::Queued { position: lock.waiters.len() as u64 }
    }

    /// Releases `name` held by `lease` under `token`; the next live waiter
    /// (per `live`) gets it with `next`. Returns the new owner, if any.
    pub fn release(
        &mut self,
        name: &[u8],
        lease: LeaseId,
        token: FencingToken,
        next: FencingToken,
        live: impl Fn(LeaseId) -> bool,
    ) -> Result<Option<LockOwner>, LockError> {
        match self.table.get(name) {
            Some(lock) if lock.owner == LockOwner { lease, token } => Ok(self.hand_on(name, next, live)),
            _ => Err(LockError::NotHolder),
        }
    }

    /// Withdraws `lease` from `name`'s queue; true if it was waiting.
    pub fn cancel(&mut self, name: &[u8], lease: LeaseId) -> bool {
        let Some(lock) = self.table.get_mut(name) else { return false };
        let before = lock.waiters.len();
        lock.waiters.retain(|&w| w != lease);
        lock.waiters.len() != before
    }

    /// `lease` ended: drop it from `name`, as holder or waiter. Returns the
    /// new owner if the lock was handed on (with `next`).
    pub fn drop_lease(
        &mut self,
        name: &[u8],
        lease: LeaseId,
        next: FencingToken,
        live: impl Fn(LeaseId) -> bool,
    ) -> Option<LockOwner> {
        let lock = self.table.get_mut(name)?;
        if lock.owner.lease == lease {
            return self.hand_on(name, next, live);
        }
        lock.waiters.retain(|&w| w != lease);
        None
    }

    /// Who holds `name`.
    pub fn owner(&self, name: &[u8]) -> Option<LockOwner> {
        self.table.get(name).map(|l| l.owner)
    }

    /// Who waits for `name`, in order.
    pub fn waiters(&self, name: &[u8]) -> impl Iterator<Item = LeaseId> + '_ {
        self.table.get(name).into_iter().flat_map(|l| l.waiters.iter().copied())
    }

    /// Held locks and their owners, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, LockOwner)> {
        self.table.iter().map(|(n, l)| (n, l.owner))
    }

    /// Number of held locks.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if no lock is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Frees `name` and grants it to the first live waiter, skipping (and
    /// dropping) waiters whose lease already ended.
    fn hand_on(&mut self, name: &[u8], next: FencingToken, live: impl Fn(LeaseId) -> bool) -> Option<LockOwner> {
        let lock = self.table.get_mut(name)?;
        while let Some(w) = lock.waiters.pop_front() {
            if live(w) {
                lock.owner = LockOwner { lease: w, token: next };
                return Some(lock.owner);
            }
        }
        self.table.remove(name);
        None
    }

    /// Rebuilds a table from a snapshot's parts.
    pub(crate) fn from_parts(locks: Vec<(Bytes, LockOwner, Vec<LeaseId>)>) -> Locks {
        let table = locks.into_iter().map(|(n, owner, w)| (n, Lock { owner, waiters: w.into() })).collect();
        Locks { table }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const A: LeaseId = LeaseId(1);
    const B: LeaseId = LeaseId(2);
    const C: LeaseId = LeaseId(3);

    fn name() -> Bytes {
        Bytes::from_static(b"L")
    }

    #[test]
    fn waiters_are_granted_in_arrival_order_and_dead_ones_are_skipped() {
        let mut t = Locks::new();
        assert_eq!(t.acquire(&name(), A, FencingToken(1), true), Acquired::Held(FencingToken(1)));
        assert_eq!(t.acquire(&name(), B, FencingToken(2), true), Acquired::Queued { position: 1 });
        assert_eq!(t.acquire(&name(), C, FencingToken(3), true), Acquired::Queued { position: 2 });
        assert_eq!(t.waiters(b"L").collect::<Vec<_>>(), vec![B, C]);
        let next = t.release(b"L", A, FencingToken(1), FencingToken(4), |l| l != B).unwrap();
        assert_eq!(next, Some(LockOwner { lease: C, token: FencingToken(4) }));
        assert_eq!(t.waiters(b"L").count(), 0);
        assert_eq!(t.drop_lease(b"L", C, FencingToken(5), |_| true), None);
        assert!(t.is_empty());
    }

    #[test]
    fn try_acquire_reports_the_holder_and_does_not_queue() {
        let mut t = Locks::new();
        t.acquire(&name(), A, FencingToken(1), true);
        let owner = LockOwner { lease: A, token: FencingToken(1) };
        assert_eq!(t.acquire(&name(), B, FencingToken(2), false), Acquired::Busy(owner));
        assert_eq!(t.waiters(b"L").count(), 0);
        assert!(!t.cancel(b"L", B));
        t.acquire(&name(), B, FencingToken(3), true);
        assert_eq!(t.acquire(&name(), B, FencingToken(4), false), Acquired::Busy(owner), "a waiter trying");
        assert_eq!(t.waiters(b"L").collect::<Vec<_>>(), vec![B], "keeps its place");
    }
}
