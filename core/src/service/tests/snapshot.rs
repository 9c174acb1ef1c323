//! Snapshot rules: the whole state, canonical, refused when damaged.

use super::*;
use crate::service::RestoreError;

/// A store with something in every table.
fn busy() -> Harness {
    let mut h = Harness::with(Config { session_idle: ms(500), ..Config::default() });
    h.tick(10);
    let (a, b_) = (h.grant(100), h.grant(300));
    h.tick(20);
    let pending = h.grant(50);
    h.set("k", "v", Some(a));
    h.set("plain", "1", None);
    h.locked("L", a);
    h.acquire("L", b_);
    h.acquire("L", pending);
    h.locked("M", b_);
    let c = h.open();
    h.session(c, 1, Op::LeaseKeepAlive { lease: a });
    h.open();
    h
}

#[test]
fn a_restored_store_equals_the_original_and_snapshots_the_same_bytes() {
    let h = busy();
    let snap = h.store.snapshot();
    let mut r = Store::new(h.store.config);
    r.restore(&snap).unwrap();
    assert_eq!(r, h.store);
    assert_eq!(r.snapshot(), snap);
    assert_eq!(r.applied(), LogIndex(h.index));
}

#[test]
fn a_restored_store_goes_on_to_expire_and_grant_like_the_original() {
    let mut h = busy();
    let mut r = Harness { store: Store::new(h.store.config), index: h.index };
    r.store.restore(&h.store.snapshot()).unwrap();
    for now in [50, 100, 110, 200, 400, 800] {
        h.tick(now);
        r.tick(now);
        assert_eq!(r.store.snapshot(), h.store.snapshot(), "after tick {now}");
    }
    assert!(h.store.leases().is_empty() && h.store.locks().is_empty() && h.store.sessions().is_empty());
}

#[test]
fn a_damaged_snapshot_is_refused_and_leaves_the_store_alone() {
    let h = busy();
    let snap = h.store.snapshot();
    let mut other = Harness::new();
    other.set("z", "0", None);
    let before = other.store.clone();
    for cut in 0..snap.len() {
        assert!(other.store.restore(&snap.slice(..cut)).is_err(), "cut at {cut}");
    }
    let mut trailing = snap.to_vec();
    trailing.push(0);
    assert!(other.store.restore(&trailing.into()).is_err());
    let mut v4 = snap.to_vec();
    v4[0] = 4;
    assert_eq!(other.store.restore(&v4.into()), Err(RestoreError::UnsupportedVersion(4)));
    assert_eq!(other.store, before);
}

#[test]
fn a_snapshot_whose_references_dangle_is_refused() {
    // A store whose only lease holds a key; then cut the lease out of the
    // lease table by rewriting its count and entry.
    let mut h = Harness::new();
    let l = h.grant(100);
    h.set("k", "v", Some(l));
    let snap = h.store.snapshot().to_vec();
    // After version, applied, log time and the clock term's "none" tag.
    let kv_len = u32::from_le_bytes(snap[18..22].try_into().unwrap()) as usize;
    let leases_at = 22 + kv_len + 8; // after the granted counter
    let mut dangling = snap[..leases_at].to_vec();
    dangling.extend_from_slice(&0u64.to_le_bytes()); // no live leases
    dangling.extend_from_slice(&snap[leases_at + 8 + 17..]); // skip count and the one (id, ttl, pending) entry
    let mut r = Store::default();
    assert_eq!(
        r.restore(&dangling.into()),
        Err(RestoreError::Malformed("key attached to a missing key or lease")),
        "the key's lease is missing"
    );
}
