//! Lease rules: expiry in log time, and what goes with a lease.

use super::*;
use crate::service::{LeaseInfo, StoreError};
use alloc::vec;
use alloc::vec::Vec;

#[test]
fn a_lease_clock_starts_at_the_first_tick_after_the_grant() {
    let mut h = Harness::new();
    h.tick(100);
    let l = h.grant(10);
    // Counting from the tick before the grant would end it at 110.
    h.tick(105);
    h.tick(110);
    assert!(h.live(l));
    h.tick(114);
    assert!(h.live(l));
    h.tick(115);
    assert!(!h.live(l), "expires when log time reaches first tick after grant + ttl");
}

#[test]
fn keep_alive_restarts_the_clock_at_the_next_tick() {
    let mut h = Harness::new();
    let l = h.grant(10);
    h.tick(100);
    h.tick(108);
    assert_eq!(h.op(Op::LeaseKeepAlive { lease: l }), Reply::Lease { id: l, ttl: ms(10) });
    h.tick(112);
    assert!(h.live(l), "the old deadline (110) no longer applies");
    h.tick(121);
    assert!(h.live(l));
    h.tick(122);
    assert!(!h.live(l));
}

#[test]
fn log_time_is_the_max_tick_so_a_leader_with_a_slow_clock_cannot_rewind_it() {
    let mut h = Harness::new();
    h.tick(1_000);
    let l = h.grant(100);
    h.tick(1_010);
    // A new leader whose clock is behind: log time stays, the lease's clock too.
    let m = h.grant(100);
    h.tick(500);
    assert_eq!(h.store.now(), at(1_010));
    assert_eq!(h.store.leases().deadline(m), Some(at(1_110)), "a clock started at log time, not at 500");
    h.tick(1_109);
    assert!(h.live(l));
    h.tick(1_110);
    assert!(!h.live(l) && !h.live(m));
}

#[test]
fn expiry_deletes_attached_keys_and_hands_locks_on() {
    let mut h = Harness::new();
    let a = h.grant(10);
    let b_ = h.grant(1_000);
    h.set("k", "v", Some(a));
    h.set("keep", "v", None);
    let t = h.locked("L", a);
    assert_eq!(h.acquire("L", b_), Reply::Queued { position: 1 });
    h.tick(1);
    h.tick(11);
    let tick_index = h.index;
    assert_eq!(h.get("k"), None);
    assert_eq!(h.get("keep"), Some(super::b("v")));
    assert_eq!(h.store.key_lease(b"k"), None);
    let owner = h.owner("L").unwrap();
    assert_eq!(owner.lease, b_);
    assert_eq!(owner.token, FencingToken(tick_index), "the token is the index of the tick that handed it on");
    assert!(owner.token > t);
}

#[test]
fn revoke_deletes_attached_keys_and_hands_locks_on() {
    let mut h = Harness::new();
    let a = h.grant(1_000);
    let b_ = h.grant(1_000);
    h.set("k1", "v", Some(a));
    h.set("k2", "v", Some(a));
    h.locked("L", a);
    h.acquire("L", b_);
    h.acquire("M", b_);
    assert_eq!(h.op(Op::LeaseRevoke { lease: a }), Reply::Ok);
    assert_eq!((h.get("k1"), h.get("k2")), (None, None));
    assert_eq!(h.owner("L"), Some(LockOwner { lease: b_, token: FencingToken(h.index) }));
    assert_eq!(h.store.leases().get(a).err(), Some(crate::service::LeaseError::Expired));
    let locks: Vec<_> = h.store.leases().get(b_).unwrap().locks().cloned().collect();
    assert_eq!(locks, vec![super::b("L"), super::b("M")]);
}

#[test]
fn unknown_and_expired_leases_are_typed_errors_and_change_nothing() {
    let mut h = Harness::new();
    let gone = h.grant(5);
    h.tick(1);
    h.tick(6);
    let before = h.store.clone();
    let never = LeaseId(99);
    for (lease, err) in [(gone, StoreError::LeaseExpired), (never, StoreError::UnknownLease)] {
        assert_eq!(h.op(Op::LeaseKeepAlive { lease }), Reply::Error(err));
        assert_eq!(h.op(Op::LeaseRevoke { lease }), Reply::Error(err));
        assert_eq!(h.set("k", "v", Some(lease)), Reply::Error(err));
        assert_eq!(h.acquire("L", lease), Reply::Error(err));
        assert_eq!(h.op(Op::TryAcquire { lock: super::b("L"), lease }), Reply::Error(err));
        assert_eq!(h.query(&Query::LeaseTtl { lease }), Reply::Error(err));
    }
    assert!(same_state(&h.store, &before));
}

#[test]
fn a_ttl_of_zero_or_above_the_maximum_is_refused() {
    let mut h = Harness::with(Config { max_ttl: ms(100), ..Config::default() });
    assert_eq!(h.op(Op::LeaseGrant { ttl: Duration::ZERO }), Reply::Error(StoreError::InvalidTtl));
    assert_eq!(h.op(Op::LeaseGrant { ttl: ms(101) }), Reply::Error(StoreError::InvalidTtl));
    assert!(h.store.leases().is_empty());
    assert_eq!(h.grant(100), LeaseId(1));
}

#[test]
fn every_write_sets_the_keys_lease_as_etcd_put_does() {
    let mut h = Harness::new();
    let a = h.grant(1_000);
    let b_ = h.grant(1_000);
    h.set("k", "1", Some(a));
    assert_eq!(h.store.key_lease(b"k"), Some(a));
    h.set("k", "2", Some(b_));
    assert_eq!(h.store.key_lease(b"k"), Some(b_), "moved to the new lease");
    assert_eq!(h.store.leases().get(a).unwrap().keys().count(), 0);
    // A refused write (not an integer) and a failed CAS change nothing.
    h.set("k", "x", Some(a));
    h.op(Op::Kv { cmd: KvCommand::Incr { key: super::b("k"), by: 1 }, lease: None });
    h.op(Op::Kv { cmd: KvCommand::Cas { key: super::b("k"), expected: None, new: None }, lease: None });
    assert_eq!(h.store.key_lease(b"k"), Some(a));
    // A write without a lease detaches: the key outlives its old lease.
    h.set("k", "3", None);
    assert_eq!(h.store.key_lease(b"k"), None);
    h.op(Op::LeaseRevoke { lease: a });
    assert_eq!(h.get("k"), Some(super::b("3")));
    // Deleting a leased key detaches it too.
    h.set("d", "1", Some(b_));
    h.op(Op::Kv { cmd: KvCommand::Delete { key: super::b("d") }, lease: None });
    assert_eq!(h.store.key_lease(b"d"), None);
    assert_eq!(h.store.leases().get(b_).unwrap().keys().count(), 0);
}

#[test]
fn lease_queries_report_log_time_left() {
    let mut h = Harness::new();
    let a = h.grant(50);
    assert_eq!(
        h.query(&Query::LeaseTtl { lease: a }),
        Reply::LeaseTtl(LeaseInfo { id: a, ttl: ms(50), remaining: None })
    );
    h.tick(100);
    let b_ = h.grant(20);
    h.tick(120);
    assert_eq!(
        h.query(&Query::Leases),
        Reply::Leases(vec![
            LeaseInfo { id: a, ttl: ms(50), remaining: Some(ms(30)) },
            LeaseInfo { id: b_, ttl: ms(20), remaining: Some(ms(20)) },
        ])
    );
}
