//! Key TTLs: leases granted for a key in the entry that sets them, expiring
//! in log time, never left behind when replaced.

use super::*;
use crate::service::keyspace::{ExpireIf, KeyCommand, KeyQuery, TtlChange};

fn expire(h: &mut Harness, key: &str, ttl: Option<u64>, only: ExpireIf) -> bool {
    match h.key(KeyCommand::Expire { key: b(key), ttl: ttl.map(ms), only }) {
        KvReply::Bool(set) => set,
        other => panic!("expire answered {other:?}"),
    }
}

fn pttl(h: &Harness, key: &str) -> i64 {
    match h.ask(KeyQuery::Ttl { key: b(key) }) {
        KvReply::Int(n) => n,
        other => panic!("ttl answered {other:?}"),
    }
}

const NX: ExpireIf = ExpireIf { nx: true, xx: false, gt: false, lt: false };
const XX: ExpireIf = ExpireIf { nx: false, xx: true, gt: false, lt: false };
const GT: ExpireIf = ExpireIf { nx: false, xx: false, gt: true, lt: false };
const LT: ExpireIf = ExpireIf { nx: false, xx: false, gt: false, lt: true };
const ANY: ExpireIf = ExpireIf { nx: false, xx: false, gt: false, lt: false };

#[test]
fn a_ttl_counts_from_the_next_tick_and_deletes_the_key_in_log_time() {
    let mut h = Harness::new();
    h.tick(1_000);
    h.put("k", "v", TtlChange::Expire(ms(500)));
    assert_eq!(pttl(&h, "k"), 500, "the whole TTL until the clock starts");
    h.tick(1_100);
    assert_eq!(pttl(&h, "k"), 500);
    h.tick(1_350);
    assert_eq!(pttl(&h, "k"), 250);
    h.tick(1_599);
    assert_eq!(h.get("k"), Some(b("v")));
    h.tick(1_600);
    assert_eq!(h.get("k"), None);
    assert_eq!(pttl(&h, "k"), -2);
    assert!(h.store.leases().is_empty());
}

#[test]
fn plain_set_clears_the_ttl_keepttl_keeps_it_and_a_past_time_deletes() {
    let mut h = Harness::new();
    h.put("k", "v", TtlChange::Expire(ms(500)));
    h.put("k", "w", TtlChange::Keep);
    assert_eq!(pttl(&h, "k"), 500);
    h.put("k", "x", TtlChange::Clear);
    assert_eq!(pttl(&h, "k"), -1);
    assert!(h.store.leases().is_empty(), "the replaced TTL's lease ended with it");
    assert_eq!(h.put("k", "y", TtlChange::Past), KvReply::Bool(true));
    assert_eq!(h.get("k"), None);
}

#[test]
fn expire_follows_redis_conditions() {
    let mut h = Harness::new();
    assert!(!expire(&mut h, "none", Some(100), ANY), "no key, no TTL");
    h.put("k", "v", TtlChange::Clear);
    assert!(!expire(&mut h, "k", Some(100), XX), "XX without a TTL");
    assert!(!expire(&mut h, "k", Some(100), GT), "GT: no TTL never ends");
    assert!(expire(&mut h, "k", Some(100), NX));
    assert!(!expire(&mut h, "k", Some(200), NX), "NX with a TTL");
    assert!(!expire(&mut h, "k", Some(50), GT));
    assert!(!expire(&mut h, "k", Some(100), GT), "GT needs strictly later");
    assert!(expire(&mut h, "k", Some(200), GT));
    assert!(!expire(&mut h, "k", Some(300), LT));
    assert!(!expire(&mut h, "k", Some(200), LT), "LT needs strictly sooner");
    assert!(expire(&mut h, "k", Some(150), LT.with_xx()));
    assert_eq!(pttl(&h, "k"), 150);
    h.put("p", "v", TtlChange::Clear);
    assert!(expire(&mut h, "p", Some(100), LT), "LT: anything is sooner than never");
    assert!(!expire(&mut h, "k", None, GT), "a past time is not later");
    assert!(expire(&mut h, "k", None, LT), "a past time is sooner, and deletes");
    assert_eq!(h.get("k"), None);
    assert_eq!(h.store.leases().len(), 1, "only p's TTL is left");
}

impl ExpireIf {
    fn with_xx(self) -> ExpireIf {
        ExpireIf { xx: true, ..self }
    }
}

#[test]
fn renewing_a_ttl_in_a_loop_holds_one_lease() {
    let mut h = Harness::new();
    h.put("k", "v", TtlChange::Clear);
    for i in 0..100 {
        assert!(expire(&mut h, "k", Some(1_000 + i), ANY));
    }
    assert_eq!(h.store.leases().len(), 1);
    assert_eq!(h.key(KeyCommand::Persist { key: b("k") }), KvReply::Bool(true));
    assert_eq!(h.key(KeyCommand::Persist { key: b("k") }), KvReply::Bool(false));
    assert_eq!(h.key(KeyCommand::Persist { key: b("none") }), KvReply::Bool(false));
    assert!(h.store.leases().is_empty());
    assert_eq!(pttl(&h, "k"), -1);
}

#[test]
fn a_key_on_a_granted_lease_reports_that_lease_and_persist_detaches_without_ending_it() {
    let mut h = Harness::new();
    let l = h.grant(800);
    h.set("k", "v", Some(l));
    assert_eq!(pttl(&h, "k"), 800);
    assert_eq!(h.key(KeyCommand::Persist { key: b("k") }), KvReply::Bool(true));
    assert!(h.live(l), "a granted lease is its holder's, and outlives the key's use of it");
    assert_eq!(h.store.key_lease(b"k"), None);
}

#[test]
fn a_new_leaders_grace_lengthens_key_ttls_never_shortens_them() {
    let mut h = Harness::new();
    h.apply_bytes(&Store::clock_tick(1, Duration::ZERO));
    h.put("k", "v", TtlChange::Expire(ms(100)));
    h.apply_bytes(&Store::clock_tick(1, ms(50)));
    assert_eq!(pttl(&h, "k"), 100);
    h.apply_bytes(&Store::clock_tick(1, ms(60)));
    assert_eq!(pttl(&h, "k"), 40);
    // A new leader: nothing counted across the hand-over, and the grace.
    h.apply_bytes(&Store::clock_tick(2, ms(1_000)));
    assert_eq!(pttl(&h, "k"), 2_000);
    assert_eq!(h.get("k"), Some(b("v")));
}

#[test]
fn key_ttls_survive_a_snapshot_and_expire_alike_after_it() {
    let mut h = Harness::new();
    h.tick(10);
    h.put("a", "1", TtlChange::Expire(ms(100)));
    h.tick(20);
    h.put("b", "2", TtlChange::Expire(ms(300)));
    let snap = h.store.snapshot();
    let mut r = Harness { store: Store::new(h.store.config), index: h.index };
    r.store.restore(&snap).unwrap();
    assert_eq!(r.store, h.store);
    assert!(r.store.leases().iter().all(|(_, l)| l.for_key()));
    // Replacing a TTL after the restore still ends the old lease.
    r.put("b", "3", TtlChange::Clear);
    h.put("b", "3", TtlChange::Clear);
    for now in [50, 119, 120, 400] {
        h.tick(now);
        r.tick(now);
        assert_eq!(r.store.snapshot(), h.store.snapshot(), "after tick {now}");
    }
    assert_eq!((h.get("a"), h.get("b")), (None, Some(b("3"))));
    assert!(h.store.leases().is_empty());
}

#[test]
fn a_keys_own_ttl_lease_is_refused_to_lease_and_lock_commands() {
    let mut h = Harness::new();
    h.put("k", "v", TtlChange::Expire(ms(500)));
    let l = h.store.key_lease(b"k").unwrap();
    let admin = crate::service::Caller { holder: Bytes::new(), admin: true };
    let before = h.store.clone();
    let refused = Reply::Error(crate::service::StoreError::NotLeaseHolder);
    for op in [
        Op::LeaseKeepAlive { lease: l },
        Op::LeaseRevoke { lease: l },
        Op::Acquire { lock: b("L"), lease: l },
        Op::Kv { cmd: KvCommand::Set { key: b("other"), value: b("v") }, lease: Some(l) },
    ] {
        assert_eq!(h.apply(&Command::new(op.clone()).by(admin.clone())), refused, "{op:?}");
    }
    assert!(same_state(&h.store, &before));
}
