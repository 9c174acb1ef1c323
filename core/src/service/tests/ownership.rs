//! A lease belongs to the holder it was granted to; its id and its locks'
//! fencing tokens are not credentials.

use super::*;
use crate::service::{Caller, StoreError};

fn caller(holder: &str) -> Caller {
    Caller { holder: b(holder), admin: false }
}

fn admin() -> Caller {
    Caller { holder: b("ops"), admin: true }
}

fn by(h: &mut Harness, who: &Caller, op: Op) -> Reply {
    h.apply(&Command::new(op).by(who.clone()))
}

fn grant_to(h: &mut Harness, who: &Caller) -> LeaseId {
    match by(h, who, Op::LeaseGrant { ttl: ms(1_000) }) {
        Reply::Lease { id, .. } => id,
        other => panic!("not granted: {other:?}"),
    }
}

#[test]
fn only_the_holder_renews_revokes_or_writes_under_its_lease() {
    let (alice, mallory) = (caller("conn:alice"), caller("conn:mallory"));
    let mut h = Harness::new();
    let lease = grant_to(&mut h, &alice);
    assert_eq!(h.store.leases().get(lease).unwrap().holder(), &b("conn:alice"));
    let set = Op::Kv { cmd: KvCommand::Set { key: b("k"), value: b("v") }, lease: Some(lease) };
    let before = h.store.clone();
    for op in [Op::LeaseKeepAlive { lease }, Op::LeaseRevoke { lease }, set.clone()] {
        assert_eq!(by(&mut h, &mallory, op), Reply::Error(StoreError::NotLeaseHolder));
    }
    assert!(same_state(&h.store, &before), "a refused command changed the store");
    assert_eq!(by(&mut h, &alice, set), Reply::Kv(KvReply::Ok));
    assert_eq!(by(&mut h, &alice, Op::LeaseKeepAlive { lease }), Reply::Lease { id: lease, ttl: ms(1_000) });
    assert_eq!(by(&mut h, &alice, Op::LeaseRevoke { lease }), Reply::Ok);
    assert_eq!(h.get("k"), None, "the revoke deleted the key");
}

#[test]
fn a_fencing_token_does_not_let_another_client_release_or_take_the_lock() {
    let (alice, mallory) = (caller("conn:alice"), caller("conn:mallory"));
    let mut h = Harness::new();
    let lease = grant_to(&mut h, &alice);
    let token = match by(&mut h, &alice, Op::Acquire { lock: b("db"), lease }) {
        Reply::Locked { token } => token,
        other => panic!("{other:?}"),
    };
    // Mallory read the lease and token from LOCKOWNER.
    assert_eq!(h.owner("db"), Some(LockOwner { lease, token }));
    let before = h.store.clone();
    for op in [
        Op::Release { lock: b("db"), lease, token },
        Op::Acquire { lock: b("db"), lease },
        Op::TryAcquire { lock: b("db"), lease },
        Op::Acquire { lock: b("other"), lease },
        Op::Cancel { lock: b("db"), lease },
    ] {
        assert_eq!(by(&mut h, &mallory, op), Reply::Error(StoreError::NotLeaseHolder));
    }
    assert!(same_state(&h.store, &before));
    assert_eq!(by(&mut h, &alice, Op::Release { lock: b("db"), lease, token }), Reply::Ok);
}

#[test]
fn an_admin_may_act_on_any_lease() {
    let mut h = Harness::new();
    let lease = grant_to(&mut h, &caller("conn:alice"));
    let token = match by(&mut h, &caller("conn:alice"), Op::Acquire { lock: b("db"), lease }) {
        Reply::Locked { token } => token,
        other => panic!("{other:?}"),
    };
    assert_eq!(by(&mut h, &admin(), Op::Release { lock: b("db"), lease, token }), Reply::Ok);
    assert_eq!(by(&mut h, &admin(), Op::LeaseRevoke { lease }), Reply::Ok);
    assert!(!h.live(lease));
}

#[test]
fn a_leased_write_grants_its_lease_only_if_the_write_happened() {
    let alice = caller("conn:alice");
    let mut h = Harness::new();
    h.set("k", "old", None);
    // SET k v EX … NX on an existing key: refused, and no lease is left.
    let nx = KvCommand::Cas { key: b("k"), expected: None, new: Some(b("new")) };
    for _ in 0..20 {
        assert_eq!(by(&mut h, &alice, Op::KvLeased { cmd: nx.clone(), ttl: ms(500) }), Reply::Kv(KvReply::Bool(false)));
    }
    assert_eq!(h.store.leases().len(), 0, "a failed write left leases behind");
    // A write that happens gets a lease of the caller's, in the same entry.
    let set = KvCommand::Set { key: b("t"), value: b("v") };
    assert_eq!(by(&mut h, &alice, Op::KvLeased { cmd: set, ttl: ms(500) }), Reply::Kv(KvReply::Ok));
    let lease = h.store.key_lease(b"t").expect("attached");
    assert_eq!(h.store.leases().get(lease).unwrap().holder(), &b("conn:alice"));
    h.tick(1_000);
    h.tick(1_499);
    assert_eq!(h.get("t"), Some(b("v")));
    h.tick(1_500);
    assert_eq!(h.get("t"), None, "the key ends with its lease");
    assert_eq!(h.store.leases().len(), 0);
}

#[test]
fn a_version_1_snapshot_restores_with_anonymous_leases() {
    let mut h = Harness::new();
    let lease = h.grant(1_000);
    let v3 = super::snapshot::as_version_3(&h.store);
    // Version 1 is version 3 without the clock term (its one-byte "none"
    // after log time) and without the lease's holder (a u32 length of 0
    // after the lease's one-byte pending timer).
    let holder_at = 1 + 8 + 8 + 1 + 4 + h.store.kv().snapshot().len() + 8 + 8 + 8 + 8 + 1;
    assert_eq!(&v3[holder_at..holder_at + 4], &[0, 0, 0, 0]);
    assert_eq!(v3[1 + 8 + 8], 0);
    let mut v1 = v3.to_vec();
    v1.drain(holder_at..holder_at + 4);
    v1.remove(1 + 8 + 8);
    v1[0] = 1;
    let mut restored = Store::default();
    restored.restore(&Bytes::from(v1)).unwrap();
    assert!(restored.leases().is_live(lease));
    assert_eq!(restored, h.store);
}
