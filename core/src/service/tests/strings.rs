//! String commands ([`KeyCommand`]): Redis's replies, one entry each, and
//! refusals that change nothing.

use super::*;
use crate::service::StoreError;
use crate::service::keyspace::{KeyCommand, KeyQuery, MAX_KEY_TTL, Presence, TtlChange};
use crate::service::kv::KvError;
use alloc::vec;
use alloc::vec::Vec;

impl Harness {
    pub(super) fn key(&mut self, cmd: KeyCommand) -> KvReply {
        match self.op(Op::Key(cmd)) {
            Reply::Kv(r) => r,
            other => panic!("not a kv reply: {other:?}"),
        }
    }

    pub(super) fn ask(&self, q: KeyQuery) -> KvReply {
        match self.query(&Query::Key(q)) {
            Reply::Kv(r) => r,
            other => panic!("not a kv reply: {other:?}"),
        }
    }

    pub(super) fn put(&mut self, key: &str, value: &str, ttl: TtlChange) -> KvReply {
        self.key(KeyCommand::Set { key: b(key), value: b(value), only: Presence::Any, get: false, ttl })
    }
}

fn set(key: &str, value: &str, only: Presence, get: bool) -> KeyCommand {
    KeyCommand::Set { key: b(key), value: b(value), only, get, ttl: TtlChange::Clear }
}

fn value(v: &str) -> KvReply {
    KvReply::Value(Some(b(v)))
}

#[test]
fn set_writes_only_when_its_condition_holds_and_get_answers_the_old_value() {
    let mut h = Harness::new();
    assert_eq!(h.key(set("k", "1", Presence::Present, false)), KvReply::Bool(false));
    assert_eq!(h.get("k"), None);
    assert_eq!(h.key(set("k", "1", Presence::Absent, false)), KvReply::Bool(true));
    assert_eq!(h.key(set("k", "2", Presence::Absent, false)), KvReply::Bool(false));
    assert_eq!(h.key(set("k", "3", Presence::Present, true)), value("1"));
    // NX with GET: the old value comes back and nothing is written.
    assert_eq!(h.key(set("k", "4", Presence::Absent, true)), value("3"));
    assert_eq!(h.get("k"), Some(b("3")));
    assert_eq!(h.key(set("new", "x", Presence::Any, true)), KvReply::Value(None));
    assert_eq!(h.get("new"), Some(b("x")));
}

#[test]
fn mset_writes_every_pair_in_one_entry_and_msetnx_writes_none_if_any_key_exists() {
    let mut h = Harness::new();
    h.put("b", "old", TtlChange::Expire(ms(1000)));
    let before = h.index;
    let pairs = vec![(b("a"), b("1")), (b("b"), b("2")), (b("a"), b("3"))];
    assert_eq!(h.key(KeyCommand::MSet { pairs, if_none: false }), KvReply::Bool(true));
    assert_eq!(h.index, before + 1, "one entry");
    assert_eq!((h.get("a"), h.get("b")), (Some(b("3")), Some(b("2"))), "later pairs win");
    assert_eq!(h.store.key_ttl(b"b"), Some(None), "MSET clears TTLs");

    let snapshot = h.store.clone();
    let pairs = vec![(b("c"), b("1")), (b("a"), b("x"))];
    assert_eq!(h.key(KeyCommand::MSet { pairs, if_none: true }), KvReply::Bool(false));
    assert!(same_state(&h.store, &snapshot), "nothing written when one key exists");
    let pairs = vec![(b("c"), b("1")), (b("d"), b("2"))];
    assert_eq!(h.key(KeyCommand::MSet { pairs, if_none: true }), KvReply::Bool(true));
    assert_eq!(h.ask(KeyQuery::DbSize), KvReply::Int(4));
}

#[test]
fn append_and_setrange_grow_values_and_refuse_past_the_value_limit() {
    let mut h = Harness::with(small_limits()); // values of at most 8 bytes
    assert_eq!(h.key(KeyCommand::Append { key: b("k"), value: b("Hello") }), KvReply::Int(5));
    assert_eq!(h.key(KeyCommand::Append { key: b("k"), value: b(" W") }), KvReply::Int(7));
    let before = h.store.clone();
    assert_eq!(h.key(KeyCommand::Append { key: b("k"), value: b("ab") }), KvReply::Error(KvError::StringTooLong));
    assert!(same_state(&h.store, &before));
    let range = |offset, v: &str| KeyCommand::SetRange { key: b("k"), offset, value: b(v) };
    assert_eq!(h.key(range(6, "XY")), KvReply::Int(8));
    assert_eq!(h.get("k"), Some(b("Hello XY")));
    assert_eq!(h.key(range(7, "ab")), KvReply::Error(KvError::StringTooLong));
    // A hostile offset is refused before anything is allocated.
    assert_eq!(h.key(range(u64::MAX, "a")), KvReply::Error(KvError::StringTooLong));
    // Writing nothing answers the length, even past the limit.
    assert_eq!(h.key(range(u64::MAX, "")), KvReply::Int(8));
    let absent = KeyCommand::SetRange { key: b("z"), offset: 2, value: b("") };
    assert_eq!(h.key(absent), KvReply::Int(0));
    assert_eq!(h.get("z"), None, "an empty write creates no key");
    assert_eq!(h.key(KeyCommand::SetRange { key: b("z"), offset: 2, value: b("a") }), KvReply::Int(3));
    assert_eq!(h.get("z"), Some(Bytes::from_static(b"\0\0a")));
}

#[test]
fn string_reads_answer_like_redis() {
    let mut h = Harness::new();
    h.put("s", "This is a string", TtlChange::Clear);
    let range = |start, end| KeyQuery::GetRange { key: b("s"), start, end };
    assert_eq!(h.ask(range(0, 3)), value("This"));
    assert_eq!(h.ask(range(-3, -1)), value("ing"));
    assert_eq!(h.ask(range(10, 100)), value("string"));
    assert_eq!(h.ask(KeyQuery::GetRange { key: b("none"), start: 0, end: -1 }), value(""));
    assert_eq!(h.ask(KeyQuery::Strlen { key: b("s") }), KvReply::Int(16));
    assert_eq!(h.ask(KeyQuery::Strlen { key: b("none") }), KvReply::Int(0));
    assert_eq!(h.ask(KeyQuery::Type { key: b("s") }), value("string"));
    assert_eq!(h.ask(KeyQuery::Type { key: b("none") }), value("none"));
    assert_eq!(h.ask(KeyQuery::Count { keys: vec![b("s"), b("none"), b("s")] }), KvReply::Int(2));
    assert_eq!(h.ask(KeyQuery::DbSize), KvReply::Int(1));
}

#[test]
fn increments_keep_the_ttl_and_refuse_what_redis_refuses() {
    let mut h = Harness::new();
    h.put("n", "10", TtlChange::Expire(ms(5000)));
    assert_eq!(h.key(KeyCommand::IncrBy { key: b("n"), by: -15 }), KvReply::Int(-5));
    assert!(h.store.key_ttl(b"n").unwrap().is_some(), "INCR keeps the TTL");
    let float = |key: &str, by: &str| KeyCommand::IncrByFloat { key: b(key), by: b(by) };
    assert_eq!(h.key(float("n", "0.5")), value("-4.5"));
    assert!(h.store.key_ttl(b"n").unwrap().is_some(), "INCRBYFLOAT keeps the TTL");
    assert_eq!(h.key(float("f", "10.50")), value("10.5"));
    assert_eq!(h.key(float("f", "0.1")), value("10.6"));
    assert_eq!(h.key(float("e", "5.0e3")), value("5000"));
    assert_eq!(h.key(float("e", "2.0e2")), value("5200"));
    h.put("s", "abc", TtlChange::Clear);
    let before = h.store.clone();
    assert_eq!(h.key(float("s", "1")), KvReply::Error(KvError::NotAFloat));
    assert_eq!(h.key(float("f", "x")), KvReply::Error(KvError::NotAFloat));
    assert!(same_state(&h.store, &before), "refusals change nothing");
    assert!(matches!(h.key(float("g", "1.7e308")), KvReply::Value(Some(_))));
    let before_inf = h.store.clone();
    assert_eq!(h.key(float("g", "1.7e308")), KvReply::Error(KvError::NotFinite));
    assert!(same_state(&h.store, &before_inf));
    assert_eq!(h.key(KeyCommand::IncrBy { key: b("s"), by: 1 }), KvReply::Error(KvError::NotAnInteger));
    h.put("max", "9223372036854775807", TtlChange::Clear);
    assert_eq!(h.key(KeyCommand::IncrBy { key: b("max"), by: 1 }), KvReply::Error(KvError::Overflow));
}

#[test]
fn getdel_getex_and_multi_key_delete_are_single_entries() {
    let mut h = Harness::new();
    h.put("a", "1", TtlChange::Expire(ms(1000)));
    h.put("b", "2", TtlChange::Clear);
    assert_eq!(h.key(KeyCommand::GetEx { key: b("a"), ttl: TtlChange::Clear }), value("1"));
    assert_eq!(h.store.key_ttl(b"a"), Some(None), "GETEX PERSIST");
    assert_eq!(h.key(KeyCommand::GetEx { key: b("b"), ttl: TtlChange::Expire(ms(100)) }), value("2"));
    assert_eq!(h.store.key_ttl(b"b"), Some(Some(ms(100))));
    assert_eq!(h.key(KeyCommand::GetEx { key: b("none"), ttl: TtlChange::Expire(ms(100)) }), KvReply::Value(None));
    assert!(h.store.leases().len() == 1, "no TTL for a missing key");
    assert_eq!(h.key(KeyCommand::GetEx { key: b("b"), ttl: TtlChange::Past }), value("2"));
    assert_eq!(h.get("b"), None, "a time already past deletes");
    assert_eq!(h.key(KeyCommand::GetDel { key: b("a") }), value("1"));
    assert_eq!(h.key(KeyCommand::GetDel { key: b("a") }), KvReply::Value(None));

    for k in ["x", "y", "z"] {
        h.put(k, "v", TtlChange::Expire(ms(50)));
    }
    let before = h.index;
    let keys: Vec<Bytes> = ["x", "y", "x", "none", "z"].into_iter().map(b).collect();
    assert_eq!(h.key(KeyCommand::Delete { keys }), KvReply::Int(3));
    assert_eq!(h.index, before + 1);
    assert!(h.store.kv().is_empty() && h.store.leases().is_empty(), "deleted keys take their TTLs along");
}

#[test]
fn rename_moves_the_value_and_its_ttl_in_one_entry() {
    let mut h = Harness::new();
    assert_eq!(
        h.key(KeyCommand::Rename { from: b("a"), to: b("b"), if_absent: false }),
        KvReply::Error(KvError::NoSuchKey)
    );
    h.put("a", "1", TtlChange::Expire(ms(300)));
    h.put("b", "2", TtlChange::Expire(ms(900)));
    assert_eq!(h.key(KeyCommand::Rename { from: b("a"), to: b("b"), if_absent: true }), KvReply::Bool(false));
    assert_eq!(h.key(KeyCommand::Rename { from: b("a"), to: b("a"), if_absent: true }), KvReply::Bool(false));
    assert_eq!(h.key(KeyCommand::Rename { from: b("a"), to: b("a"), if_absent: false }), KvReply::Bool(true));
    let index = h.index;
    assert_eq!(h.key(KeyCommand::Rename { from: b("a"), to: b("b"), if_absent: false }), KvReply::Bool(true));
    assert_eq!(h.index, index + 1);
    assert_eq!((h.get("a"), h.get("b")), (None, Some(b("1"))));
    assert_eq!(h.store.key_ttl(b"b"), Some(Some(ms(300))), "the source's TTL, not the replaced key's");
    assert_eq!(h.store.leases().len(), 1, "the replaced key's TTL ended with it");
    h.tick(1);
    h.tick(301);
    assert_eq!(h.get("b"), None, "the moved TTL still expires the key");
    h.put("p", "v", TtlChange::Clear);
    assert_eq!(h.key(KeyCommand::Rename { from: b("p"), to: b("q"), if_absent: true }), KvReply::Bool(true));
    assert_eq!(h.store.key_ttl(b"q"), Some(None));
}

#[test]
fn oversized_keys_values_and_ttls_are_refused_before_the_log() {
    let config = small_limits();
    let admit = |cmd: KeyCommand| config.admit(&Command::new(Op::Key(cmd)));
    let refused = |e| Err(Reply::Kv(KvReply::Error(e)));
    let pairs = vec![(b("ok"), b("v")), (b("toolong"), b("v"))];
    assert_eq!(admit(KeyCommand::MSet { pairs, if_none: false }), refused(KvError::KeyTooLarge));
    assert_eq!(admit(KeyCommand::Delete { keys: vec![b("a"), b("toolong")] }), refused(KvError::KeyTooLarge));
    assert_eq!(
        admit(KeyCommand::Rename { from: b("a"), to: b("toolong"), if_absent: false }),
        refused(KvError::KeyTooLarge)
    );
    assert_eq!(admit(set("k", "123456789", Presence::Any, false)), refused(KvError::ValueTooLarge));
    assert_eq!(admit(KeyCommand::SetRange { key: b("k"), offset: 8, value: b("a") }), refused(KvError::StringTooLong));
    assert_eq!(admit(KeyCommand::IncrByFloat { key: b("k"), by: b("nan") }), refused(KvError::NotAFloat));
    let ttl = |d| KeyCommand::Expire { key: b("k"), ttl: Some(d), only: Default::default() };
    assert_eq!(admit(ttl(Duration::ZERO)), Err(Reply::Error(StoreError::InvalidTtl)));
    assert_eq!(admit(ttl(MAX_KEY_TTL + ms(1))), Err(Reply::Error(StoreError::InvalidTtl)));
    assert_eq!(admit(ttl(MAX_KEY_TTL)), Ok(()));
    // Past the lease limit, a key's TTL is still fine.
    assert_eq!(admit(ttl(Duration::from_secs(30 * 24 * 3600))), Ok(()));

    // Applied anyway (a log written by a node with other limits), the same
    // refusals, and nothing changes.
    let mut h = Harness::with(config);
    let before = h.store.clone();
    assert_eq!(h.op(Op::Key(ttl(MAX_KEY_TTL + ms(1)))), Reply::Error(StoreError::InvalidTtl));
    assert_eq!(h.key(set("toolong", "v", Presence::Any, false)), KvReply::Error(KvError::KeyTooLarge));
    assert!(same_state(&h.store, &before));
}
