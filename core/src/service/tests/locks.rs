//! Lock rules: FIFO grants, fencing tokens, typed refusals.

use super::*;
use crate::service::StoreError;

#[test]
fn the_first_acquire_gets_the_lock_with_its_entry_index_as_token() {
    let mut h = Harness::new();
    let a = h.grant(1_000);
    let t = h.locked("L", a);
    assert_eq!(t, FencingToken(h.index));
    assert_eq!(h.owner("L"), Some(LockOwner { lease: a, token: t }));
}

#[test]
fn acquire_is_idempotent_for_the_holder_and_for_a_waiter() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(1_000), h.grant(1_000));
    let t = h.locked("L", a);
    assert_eq!(h.acquire("L", a), Reply::Locked { token: t }, "the holder gets its token back");
    assert_eq!(h.acquire("L", b_), Reply::Queued { position: 1 });
    assert_eq!(h.acquire("L", b_), Reply::Queued { position: 1 }, "no second place in line");
    assert_eq!(h.store.locks().waiters(b"L").count(), 1);
}

#[test]
fn waiters_are_granted_in_fifo_order_with_the_releasing_entrys_index() {
    let mut h = Harness::new();
    let (a, b_, c) = (h.grant(1_000), h.grant(1_000), h.grant(1_000));
    let ta = h.locked("L", a);
    assert_eq!(h.acquire("L", c), Reply::Queued { position: 1 });
    assert_eq!(h.acquire("L", b_), Reply::Queued { position: 2 });
    assert_eq!(h.release("L", a, ta), Reply::Ok);
    let tc = FencingToken(h.index);
    assert_eq!(h.owner("L"), Some(LockOwner { lease: c, token: tc }));
    assert_eq!(h.release("L", c, tc), Reply::Ok);
    let tb = FencingToken(h.index);
    assert_eq!(h.owner("L"), Some(LockOwner { lease: b_, token: tb }));
    assert!(ta < tc && tc < tb);
    assert_eq!(h.release("L", b_, tb), Reply::Ok);
    assert_eq!(h.owner("L"), None);
    assert!(h.store.locks().is_empty());
}

#[test]
fn a_waiter_learns_of_its_grant_by_asking_again_or_by_the_owner_query() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(1_000), h.grant(1_000));
    let ta = h.locked("L", a);
    h.acquire("L", b_);
    h.release("L", a, ta);
    let granted = FencingToken(h.index);
    assert_eq!(h.owner("L"), Some(LockOwner { lease: b_, token: granted }));
    assert_eq!(h.acquire("L", b_), Reply::Locked { token: granted });
}

#[test]
fn try_acquire_on_a_held_lock_reports_the_holder_without_queueing() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(1_000), h.grant(1_000));
    let ta = h.locked("L", a);
    let try_b = Op::TryAcquire { lock: super::b("L"), lease: b_ };
    assert_eq!(h.op(try_b.clone()), Reply::Busy(LockOwner { lease: a, token: ta }));
    assert_eq!(h.store.locks().waiters(b"L").count(), 0);
    assert_eq!(h.op(Op::TryAcquire { lock: super::b("L"), lease: a }), Reply::Locked { token: ta });
    h.release("L", a, ta);
    assert_eq!(h.op(try_b), Reply::Locked { token: FencingToken(h.index) });
}

#[test]
fn release_by_a_non_holder_or_with_a_wrong_token_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(1_000), h.grant(1_000));
    let ta = h.locked("L", a);
    h.acquire("L", b_);
    let before = h.store.clone();
    assert_eq!(h.release("L", b_, ta), Reply::Error(StoreError::NotHolder), "a waiter");
    assert_eq!(h.release("L", a, FencingToken(ta.0 + 1)), Reply::Error(StoreError::NotHolder), "a wrong token");
    assert_eq!(h.release("M", a, ta), Reply::Error(StoreError::NotHolder), "a lock nobody holds");
    assert_eq!(h.release("L", LeaseId(77), ta), Reply::Error(StoreError::NotHolder), "an unknown lease");
    assert!(same_state(&h.store, &before));
}

#[test]
fn a_stale_holder_cannot_release_its_successors_grant() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(10), h.grant(1_000));
    let ta = h.locked("L", a);
    h.acquire("L", b_);
    h.tick(0);
    h.tick(10);
    // a's lease lapsed while it was paused; it wakes up and releases.
    assert_eq!(h.release("L", a, ta), Reply::Error(StoreError::NotHolder));
    assert_eq!(h.owner("L").map(|o| o.lease), Some(b_));
}

#[test]
fn a_holder_and_its_next_waiter_expiring_together_hand_the_lock_past_both() {
    let mut h = Harness::new();
    let (a, b_, c) = (h.grant(10), h.grant(10), h.grant(1_000));
    let ta = h.locked("L", a);
    h.acquire("L", b_);
    h.acquire("L", c);
    h.tick(0);
    h.tick(10);
    // One entry grants a lock at most once: b never held it under the tick's token.
    assert_eq!(h.owner("L"), Some(LockOwner { lease: c, token: FencingToken(h.index) }));
    assert!(FencingToken(h.index) > ta);
    assert_eq!(h.store.locks().waiters(b"L").count(), 0);
}

#[test]
fn cancel_withdraws_a_waiter_and_a_non_waiter_gets_false() {
    let mut h = Harness::new();
    let (a, b_) = (h.grant(1_000), h.grant(1_000));
    let ta = h.locked("L", a);
    h.acquire("L", b_);
    let cancel = Op::Cancel { lock: super::b("L"), lease: b_ };
    assert_eq!(h.op(cancel.clone()), Reply::Bool(true));
    assert_eq!(h.op(cancel), Reply::Bool(false));
    assert_eq!(h.store.leases().get(b_).unwrap().locks().count(), 0);
    h.release("L", a, ta);
    assert_eq!(h.owner("L"), None, "the cancelled waiter is not granted");
}

#[test]
fn lock_names_beyond_the_key_limit_are_refused() {
    let mut h = Harness::with(small_limits());
    let a = h.grant(1_000);
    assert_eq!(h.acquire("too-long", a), Reply::Error(StoreError::KeyTooLarge));
    assert!(h.store.locks().is_empty());
    h.locked("ok", a);
}

#[test]
fn tokens_keep_increasing_across_a_snapshot_and_restore() {
    let mut h = Harness::new();
    let a = h.grant(1_000);
    let ta = h.locked("L", a);
    h.release("L", a, ta);
    let mut restored = Harness { store: Store::new(Config::default()), index: h.index };
    restored.store.restore(&h.store.snapshot()).unwrap();
    let tb = restored.locked("L", a);
    assert!(tb > ta);
}
