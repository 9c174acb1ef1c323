//! The lease table: grant, keep-alive, revoke, list, and expiry in log
//! time.
//!
//! A lease is a promise, kept by the replicated log, that the things
//! attached to it — keys written under it, locks held or waited for under
//! it — last until its holder stops renewing it. This is etcd's lease
//! (keys attached with `put --lease`, deleted when it expires) and
//! ZooKeeper's session with its ephemeral nodes; Chubby ties locks and
//! ephemeral files to a session lease the same way.
//!
//! Expiry is decided inside the log: see [`super::clock`] for why a lease's
//! clock starts at the first tick applied after its grant or keep-alive.
//! The table tracks what is attached to each lease; [`super::Store`] does
//! the releasing.

use super::clock::{Timer, Timers};
use crate::lease::LeaseId;
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::Bytes;

/// Why a lease operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// No lease with this id was ever granted.
    #[error("unknown lease")]
    Unknown,
    /// The lease expired or was revoked.
    #[error("lease expired or revoked")]
    Expired,
}

/// One live lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    ttl: Duration,
    holder: Bytes,
    keys: BTreeSet<Bytes>,
    locks: BTreeSet<Bytes>,
    for_key: bool,
}

impl Lease {
    fn new(ttl: Duration, holder: Bytes, for_key: bool) -> Lease {
        Lease { ttl, holder, keys: BTreeSet::new(), locks: BTreeSet::new(), for_key }
    }

    /// True for a key's own TTL ([`Leases::grant_for_key`]): it ends when
    /// its key stops using it, so replacing a TTL leaves nothing behind.
    pub fn for_key(&self) -> bool {
        self.for_key
    }

    /// True if nothing is attached to it.
    pub fn is_unused(&self) -> bool {
        self.keys.is_empty() && self.locks.is_empty()
    }

    /// Who it was granted to ([`super::Caller::holder`]); empty for an
    /// anonymous lease, which anyone may use.
    pub fn holder(&self) -> &Bytes {
        &self.holder
    }

    /// True if `caller` may act on it: its holder, an admin, or anyone for
    /// an anonymous lease; nobody for a key's own TTL, which only its key's
    /// commands change (so it never holds a lock or another key).
    pub fn belongs_to(&self, caller: &super::Caller) -> bool {
        !self.for_key && (caller.admin || self.holder.is_empty() || self.holder == caller.holder)
    }

    /// The TTL it was granted (or last renewed) with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keys attached to it.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.keys.iter()
    }

    /// Locks it holds or waits for.
    pub fn locks(&self) -> impl Iterator<Item = &Bytes> {
        self.locks.iter()
    }
}

/// What the service says about a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The lease.
    pub id: LeaseId,
    /// Its TTL.
    pub ttl: Duration,
    /// Log time left before it expires; `None` while its clock waits for
    /// the next tick (it has the whole TTL then).
    pub remaining: Option<Duration>,
}

/// The lease table. Deterministic: ids are dense, expiry happens only in
/// [`Leases::advance`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leases {
    table: BTreeMap<LeaseId, Lease>,
    timers: Timers<LeaseId>,
    granted: u64,
}

impl Leases {
    /// An empty table.
    pub fn new() -> Leases {
        Leases::default()
    }

    /// Grants `holder` a lease of `ttl` (the caller checked its bounds);
    /// its clock starts at the next tick.
    pub fn grant(&mut self, ttl: Duration, holder: Bytes) -> LeaseId {
        self.granted += 1;
        let id = LeaseId(self.granted);
        // Copy: a slice would pin the whole log entry in memory.
        self.table.insert(id, Lease::new(ttl, Bytes::copy_from_slice(&holder), false));
        self.timers.restart(id, ttl);
        id
    }

    /// Grants a lease of `ttl` that is one key's TTL (Redis's `EXPIRE`): no
    /// caller may act on it ([`Lease::belongs_to`]), and [`super::Store`]
    /// revokes it once its key lets go of it, so a client renewing a TTL in
    /// a loop holds one lease, not one per call.
    pub fn grant_for_key(&mut self, ttl: Duration) -> LeaseId {
        self.granted += 1;
        let id = LeaseId(self.granted);
        self.table.insert(id, Lease::new(ttl, Bytes::new(), true));
        self.timers.restart(id, ttl);
        id
    }

    /// Renews a lease for its whole TTL, counted from the next tick.
    pub fn keep_alive(&mut self, id: LeaseId) -> Result<Duration, LeaseError> {
        let ttl = self.get(id)?.ttl;
        self.timers.restart(id, ttl);
        Ok(ttl)
    }

    /// Ends a lease now; returns it so its attachments can be released.
    pub fn revoke(&mut self, id: LeaseId) -> Result<Lease, LeaseError> {
        self.get(id)?;
        self.timers.cancel(id);
        self.table.remove(&id).ok_or(LeaseError::Unknown)
    }

    /// A live lease.
    pub fn get(&self, id: LeaseId) -> Result<&Lease, LeaseError> {
        match self.table.get(&id) {
            Some(l) => Ok(l),
            None if id.0 >= 1 && id.0 <= self.granted => Err(LeaseError::Expired),
            None => Err(LeaseError::Unknown),
        }
    }

    /// True if `id` is live.
    pub fn is_live(&self, id: LeaseId) -> bool {
        self.table.contains_key(&id)
    }

    /// What the service says about `id` at log time `now`.
    pub fn info(&self, id: LeaseId, now: Instant) -> Result<LeaseInfo, LeaseError> {
        let lease = self.get(id)?;
        let remaining = match self.timers.get(id) {
            Some(Timer::Armed(d)) => Some(d - now),
            _ => None,
        };
        Ok(LeaseInfo { id, ttl: lease.ttl, remaining })
    }

    /// Every live lease, by id.
    pub fn list(&self, now: Instant) -> Vec<LeaseInfo> {
        self.table.keys().filter_map(|&id| self.info(id, now).ok()).collect()
    }

    /// Live leases, by id.
    pub fn iter(&self) -> impl Iterator<Item = (LeaseId, &Lease)> {
        self.table.iter().map(|(&id, l)| (id, l))
    }

    /// When `id` expires in log time; `None` if its clock has not started
    /// (or it is not live).
    pub fn deadline(&self, id: LeaseId) -> Option<Instant> {
        match self.timers.get(id) {
            Some(Timer::Armed(d)) => Some(d),
            _ => None,
        }
    }

    /// Number of live leases.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if no lease is live.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of leases ever granted; the next id is one more.
    pub fn granted(&self) -> u64 {
        self.granted
    }

    /// A new leader's grace: no lease ends before `floor`.
    pub(crate) fn extend_to(&mut self, floor: Instant) {
        self.timers.extend_to(floor);
    }

    /// Log time moved to `now`: starts pending clocks and removes expired
    /// leases, in deadline order, into `expired`.
    pub fn advance(&mut self, now: Instant, expired: &mut Vec<(LeaseId, Lease)>) {
        let mut fired = Vec::new();
        self.timers.advance(now, &mut fired);
        expired.extend(fired.into_iter().filter_map(|id| self.table.remove(&id).map(|l| (id, l))));
    }

    pub(crate) fn attach_key(&mut self, id: LeaseId, key: Bytes) {
        if let Some(l) = self.table.get_mut(&id) {
            l.keys.insert(key);
        }
    }

    pub(crate) fn detach_key(&mut self, id: LeaseId, key: &[u8]) {
        if let Some(l) = self.table.get_mut(&id) {
            l.keys.remove(key);
        }
    }

    pub(crate) fn add_lock(&mut self, id: LeaseId, name: Bytes) {
        if let Some(l) = self.table.get_mut(&id) {
            l.locks.insert(name);
        }
    }

    pub(crate) fn remove_lock(&mut self, id: LeaseId, name: &[u8]) {
        if let Some(l) = self.table.get_mut(&id) {
            l.locks.remove(name);
        }
    }

    pub(crate) fn timer(&self, id: LeaseId) -> Option<Timer> {
        self.timers.get(id)
    }

    /// Rebuilds a table from a snapshot's parts.
    pub(crate) fn from_parts(granted: u64, leases: Vec<(LeaseId, Duration, Bytes, Timer, bool)>) -> Leases {
        let mut t = Leases { granted, ..Leases::default() };
        for (id, ttl, holder, timer, for_key) in leases {
            t.table.insert(id, Lease::new(ttl, holder, for_key));
            t.timers.set(id, timer);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn ids_are_dense_and_tell_an_ended_lease_from_one_never_granted() {
        let mut t = Leases::new();
        let a = t.grant(Duration::from_secs(1), Bytes::new());
        let b = t.grant(Duration::from_secs(1), Bytes::new());
        assert_eq!((a, b), (LeaseId(1), LeaseId(2)));
        t.revoke(a).unwrap();
        assert_eq!(t.get(a).err(), Some(LeaseError::Expired));
        assert_eq!(t.get(LeaseId(3)).err(), Some(LeaseError::Unknown));
        assert_eq!(t.get(LeaseId(0)).err(), Some(LeaseError::Unknown));
        assert_eq!(t.revoke(a).err(), Some(LeaseError::Expired));
    }

    #[test]
    fn keep_alive_restarts_the_clock_at_the_next_tick() {
        let mut t = Leases::new();
        let mut gone = Vec::new();
        let a = t.grant(Duration::from_millis(10), Bytes::new());
        assert_eq!(t.info(a, ms(0)).unwrap().remaining, None);
        t.advance(ms(100), &mut gone);
        assert_eq!(t.deadline(a), Some(ms(110)));
        assert_eq!(t.info(a, ms(104)).unwrap().remaining, Some(Duration::from_millis(6)));
        assert_eq!(t.keep_alive(a), Ok(Duration::from_millis(10)));
        assert_eq!(t.deadline(a), None);
        t.advance(ms(108), &mut gone);
        assert_eq!(t.deadline(a), Some(ms(118)));
        t.advance(ms(117), &mut gone);
        assert!(gone.is_empty());
        t.advance(ms(118), &mut gone);
        assert_eq!(gone.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![a]);
        assert_eq!(t.keep_alive(a), Err(LeaseError::Expired));
        assert!(t.list(ms(118)).is_empty());
    }
}
