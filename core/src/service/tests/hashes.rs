//! Hashes: Redis's replies, `WRONGTYPE` both ways, a hash's life (it ends
//! with its last field, TTL and all), reply limits, snapshots (version 3,
//! and older ones still load), versions for `WATCH`, and `HSCAN`'s
//! guarantee.

use super::*;
use crate::service::Service;
use crate::service::codec::put_bytes;
use crate::service::keyspace::hash::{HashCommand, HashQuery};
use crate::service::keyspace::{ExpireIf, KeyCommand, KeyQuery, TtlChange};
use crate::service::kv::{Kv, KvError};
use crate::service::versions::Versions;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

impl Harness {
    fn hset(&mut self, key: &str, pairs: &[(&str, &str)]) -> KvReply {
        let pairs = pairs.iter().map(|(f, v)| (b(f), b(v))).collect();
        self.key(KeyCommand::Hash(HashCommand::Set { key: b(key), pairs, if_absent: false }))
    }

    fn hdel(&mut self, key: &str, fields: &[&str]) -> KvReply {
        let fields = fields.iter().map(|f| b(f)).collect();
        self.key(KeyCommand::Hash(HashCommand::Delete { key: b(key), fields }))
    }

    fn hash(&self, q: HashQuery) -> KvReply {
        self.ask(KeyQuery::Hash(q))
    }

    fn hget(&self, key: &str, field: &str) -> KvReply {
        self.hash(HashQuery::Get { key: b(key), field: b(field) })
    }

    fn hgetall(&self, key: &str) -> KvReply {
        self.hash(HashQuery::All { key: b(key), names: true, values: true })
    }

    fn hscan(&self, key: &str, cursor: u64, count: u64) -> (u64, Vec<Bytes>) {
        let q = HashQuery::Scan { key: b(key), cursor, count, pattern: None, values: false };
        match self.hash(q) {
            KvReply::Values(vs) => {
                let mut it = vs.into_iter().map(Option::unwrap);
                let next = core::str::from_utf8(&it.next().unwrap()).unwrap().parse().unwrap();
                (next, it.collect())
            }
            other => panic!("hscan refused: {other:?}"),
        }
    }
}

fn values(vs: &[&str]) -> KvReply {
    KvReply::Values(vs.iter().map(|v| Some(b(v))).collect())
}

/// `HGETALL`'s pairs, sorted (a hash's order is its own).
fn pairs(r: KvReply) -> Vec<(Bytes, Bytes)> {
    let KvReply::Values(vs) = r else { panic!("not values: {r:?}") };
    let vs: Vec<Bytes> = vs.into_iter().map(Option::unwrap).collect();
    let mut out: Vec<_> = vs.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    out.sort();
    out
}

const WRONGTYPE: KvReply = KvReply::Error(KvError::WrongType);

#[test]
fn hash_commands_answer_as_redis_does() {
    let mut h = Harness::new();
    assert_eq!(h.hset("h", &[("a", "1"), ("b", "2"), ("a", "3")]), KvReply::Int(2), "two fields added");
    assert_eq!(h.hget("h", "a"), KvReply::Value(Some(b("3"))), "the later pair wins");
    assert_eq!(h.hget("h", "z"), KvReply::Value(None));
    assert_eq!(h.hget("nothing", "a"), KvReply::Value(None));
    assert_eq!(h.hset("h", &[("b", "20"), ("c", "30")]), KvReply::Int(1));
    let nx = |f: &str, v: &str| {
        KeyCommand::Hash(HashCommand::Set { key: b("h"), pairs: vec![(b(f), b(v))], if_absent: true })
    };
    assert_eq!(h.key(nx("a", "x")), KvReply::Int(0));
    assert_eq!(h.key(nx("d", "4")), KvReply::Int(1));
    assert_eq!(h.hget("h", "a"), KvReply::Value(Some(b("3"))), "HSETNX left an existing field alone");
    assert_eq!(pairs(h.hgetall("h")), vec![(b("a"), b("3")), (b("b"), b("20")), (b("c"), b("30")), (b("d"), b("4"))]);
    let mget = HashQuery::MGet { key: b("h"), fields: vec![b("a"), b("nope"), b("a")] };
    assert_eq!(h.hash(mget), KvReply::Values(vec![Some(b("3")), None, Some(b("3"))]));
    assert_eq!(h.hash(HashQuery::Len { key: b("h") }), KvReply::Int(4));
    assert_eq!(h.hash(HashQuery::Exists { key: b("h"), field: b("c") }), KvReply::Bool(true));
    assert_eq!(h.hash(HashQuery::Strlen { key: b("h"), field: b("b") }), KvReply::Int(2));
    let mut names = match h.hash(HashQuery::All { key: b("h"), names: true, values: false }) {
        KvReply::Values(vs) => vs,
        other => panic!("{other:?}"),
    };
    names.sort();
    assert_eq!(KvReply::Values(names), values(&["a", "b", "c", "d"]));
    assert_eq!(h.hdel("h", &["a", "a", "nope"]), KvReply::Int(1));
    assert_eq!(h.ask(KeyQuery::Type { key: b("h") }), KvReply::Value(Some(b("hash"))));
    assert_eq!(h.ask(KeyQuery::Count { keys: vec![b("h")] }), KvReply::Int(1));
}

#[test]
fn increments_parse_the_field_and_refuse_what_redis_refuses() {
    let mut h = Harness::new();
    let incr = |f: &str, by| KeyCommand::Hash(HashCommand::IncrBy { key: b("h"), field: b(f), by });
    let incrf = |f: &str, by: &str| KeyCommand::Hash(HashCommand::IncrByFloat { key: b("h"), field: b(f), by: b(by) });
    assert_eq!(h.key(incr("n", 5)), KvReply::Int(5));
    assert_eq!(h.key(incr("n", -7)), KvReply::Int(-2));
    h.hset("h", &[("s", "abc"), ("m", "9223372036854775807")]);
    assert_eq!(h.key(incr("s", 1)), KvReply::Error(KvError::FieldNotAnInteger));
    assert_eq!(h.key(incr("m", 1)), KvReply::Error(KvError::Overflow));
    assert_eq!(h.key(incrf("f", "10.5")), KvReply::Value(Some(b("10.5"))));
    assert_eq!(h.key(incrf("f", "0.1")), KvReply::Value(Some(b("10.6"))));
    assert_eq!(h.key(incrf("s", "1")), KvReply::Error(KvError::FieldNotAFloat));
    assert_eq!(h.key(incrf("f", "x")), KvReply::Error(KvError::NotAFloat));
    assert_eq!(h.hget("h", "m"), KvReply::Value(Some(b("9223372036854775807"))), "a refusal changes nothing");
}

#[test]
fn a_string_command_on_a_hash_and_a_hash_command_on_a_string_are_wrongtype() {
    let mut h = Harness::new();
    h.hset("h", &[("f", "1")]);
    h.put("s", "1", TtlChange::Clear);
    assert_eq!(h.hset("s", &[("f", "1")]), WRONGTYPE);
    assert_eq!(h.hget("s", "f"), WRONGTYPE);
    assert_eq!(h.hdel("s", &["f"]), WRONGTYPE);
    assert_eq!(h.hgetall("s"), WRONGTYPE);
    assert_eq!(h.key(KeyCommand::IncrBy { key: b("h"), by: 1 }), WRONGTYPE);
    assert_eq!(h.key(KeyCommand::Append { key: b("h"), value: b("x") }), WRONGTYPE);
    assert_eq!(h.key(KeyCommand::GetDel { key: b("h") }), WRONGTYPE);
    assert_eq!(h.ask(KeyQuery::Strlen { key: b("h") }), WRONGTYPE);
    assert_eq!(h.query(&Query::Kv(KvQuery::Get { key: b("h") })), Reply::Kv(WRONGTYPE));
    assert_eq!(
        h.query(&Query::Kv(KvQuery::MGet { keys: vec![b("h"), b("s")] })),
        Reply::Kv(KvReply::Values(vec![None, Some(b("1"))])),
        "MGET reads a hash as absent"
    );
    let get = KeyCommand::Set {
        key: b("h"),
        value: b("v"),
        only: crate::service::keyspace::Presence::Any,
        get: true,
        ttl: TtlChange::Clear,
    };
    assert_eq!(h.key(get), WRONGTYPE);
    assert_eq!(h.hget("h", "f"), KvReply::Value(Some(b("1"))), "SET … GET on a hash wrote nothing");
    // A plain SET replaces a value of any type; DEL and RENAME take any.
    h.put("h", "now a string", TtlChange::Clear);
    assert_eq!(h.get("h"), Some(b("now a string")));
    h.hset("h2", &[("f", "1")]);
    assert_eq!(h.key(KeyCommand::Rename { from: b("h2"), to: b("h3"), if_absent: false }), KvReply::Bool(true));
    assert_eq!(h.hget("h3", "f"), KvReply::Value(Some(b("1"))));
    assert_eq!(h.key(KeyCommand::Delete { keys: vec![b("h3")] }), KvReply::Int(1));
}

#[test]
fn a_hash_ends_with_its_last_field_and_takes_its_ttl_with_it() {
    let mut h = Harness::new();
    h.hset("h", &[("a", "1"), ("b", "2")]);
    let expire = KeyCommand::Expire { key: b("h"), ttl: Some(ms(500)), only: ExpireIf::default() };
    assert_eq!(h.key(expire), KvReply::Bool(true), "a hash takes a TTL");
    assert_eq!(h.ask(KeyQuery::Ttl { key: b("h") }), KvReply::Int(500));
    assert_eq!(h.hdel("h", &["a", "b"]), KvReply::Int(2));
    assert_eq!(h.ask(KeyQuery::Type { key: b("h") }), KvReply::Value(Some(b("none"))));
    assert!(h.store.leases().is_empty(), "the TTL's lease ended with the key");
    assert_eq!(h.hset("h", &[]), KvReply::Int(0));
    assert_eq!(h.ask(KeyQuery::DbSize), KvReply::Int(0), "no pairs make no hash");
    // A hash with a TTL expires in log time, like a string.
    h.tick(1_000);
    h.hset("h", &[("a", "1")]);
    h.key(KeyCommand::Expire { key: b("h"), ttl: Some(ms(100)), only: ExpireIf::default() });
    h.tick(1_050);
    h.tick(1_149);
    assert_eq!(h.hget("h", "a"), KvReply::Value(Some(b("1"))), "its clock started at the next tick");
    h.tick(1_150);
    assert_eq!(h.hget("h", "a"), KvReply::Value(None));
}

#[test]
fn listings_past_the_reply_limit_are_refused() {
    let config = Config { limits: Limits { max_reply_bytes: 10, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    h.hset("h", &[("aaaa", "1111"), ("bbbb", "2222")]);
    let too_large = KvReply::Error(KvError::ReplyTooLarge);
    assert_eq!(h.hgetall("h"), too_large, "16 bytes pass 10");
    assert!(matches!(h.hash(HashQuery::All { key: b("h"), names: true, values: false }), KvReply::Values(_)));
    let mget = HashQuery::MGet { key: b("h"), fields: vec![b("aaaa"), b("aaaa"), b("aaaa")] };
    assert_eq!(h.hash(mget), too_large, "a field named thrice counts thrice");
    let (_, scanned) = h.hscan("h", 0, 100);
    assert!(!scanned.is_empty(), "HSCAN answers within the limit, a bit at a time");
}

#[test]
fn field_names_and_values_are_bounded_like_keys_and_values() {
    let config =
        Config { limits: Limits { max_key_bytes: 4, max_value_bytes: 4, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    assert_eq!(h.hset("h", &[("long!", "v")]), KvReply::Error(KvError::KeyTooLarge));
    assert_eq!(h.hset("h", &[("f", "long!")]), KvReply::Error(KvError::ValueTooLarge));
    assert_eq!(h.ask(KeyQuery::DbSize), KvReply::Int(0));
}

#[test]
fn hashes_survive_a_snapshot_and_a_version_2_snapshot_still_loads() {
    let mut h = Harness::new();
    h.hset("h", &[("a", "1"), ("b", "2")]);
    h.put("s", "x", TtlChange::Clear);
    let snap = h.store.snapshot();
    let mut r = Store::default();
    r.restore(&snap).unwrap();
    assert!(same_state(&r, &h.store));
    assert_eq!(r.snapshot(), snap);

    // A version 2 map (strings only, no type tags) restores as strings.
    let mut v2 = BytesMut::new();
    v2.put_u8(2);
    v2.put_u64_le(7);
    v2.put_u64_le(1);
    put_bytes(&mut v2, b"k");
    put_bytes(&mut v2, b"old");
    Versions::default().encode(&mut v2);
    let mut kv = Kv::default();
    kv.restore(&v2.freeze()).unwrap();
    assert_eq!(kv.get(b"k"), Some(&b("old")));
    assert_eq!(kv.applied(), LogIndex(7));
}

#[test]
fn a_snapshot_with_an_empty_or_repeated_hash_is_refused() {
    let mut kv = Kv::default();
    let snap = |fields: &[(&str, &str)]| {
        let mut s = BytesMut::new();
        s.put_u8(3);
        s.put_u64_le(1);
        s.put_u64_le(1);
        put_bytes(&mut s, b"h");
        s.put_u8(1);
        s.put_u64_le(fields.len() as u64);
        for (f, v) in fields {
            put_bytes(&mut s, f.as_bytes());
            put_bytes(&mut s, v.as_bytes());
        }
        Versions::default().encode(&mut s);
        s.freeze()
    };
    kv.restore(&snap(&[("a", "1")])).unwrap();
    assert!(kv.restore(&snap(&[])).is_err(), "a hash without fields");
    assert!(kv.restore(&snap(&[("a", "1"), ("a", "2")])).is_err(), "a field twice");
}

#[test]
fn a_hash_write_changes_its_version_and_a_write_that_changes_nothing_does_not() {
    let mut h = Harness::new();
    h.hset("h", &[("a", "1")]);
    let v = |h: &Harness| h.store.kv().version(b"h");
    let before = v(&h);
    h.hdel("h", &["nope"]);
    assert_eq!(v(&h), before, "HDEL of a missing field changes nothing");
    let nx = KeyCommand::Hash(HashCommand::Set { key: b("h"), pairs: vec![(b("a"), b("2"))], if_absent: true });
    h.key(nx);
    assert_eq!(v(&h), before, "HSETNX of an existing field changes nothing");
    h.hset("h", &[("a", "2")]);
    assert!(v(&h) > before);
    let after = v(&h);
    h.hdel("h", &["a"]);
    assert!(v(&h) > after, "removing the last field removes the key");
}

#[test]
fn scan_type_picks_keys_by_type() {
    let mut h = Harness::new();
    h.hset("h", &[("a", "1")]);
    h.put("s", "x", TtlChange::Clear);
    let scan = |h: &Harness, kind: &str| {
        let q = KeyQuery::Scan { cursor: 0, count: 100, pattern: None, kind: Some(b(kind)) };
        match h.ask(q) {
            KvReply::Values(vs) => vs.into_iter().skip(1).map(Option::unwrap).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(scan(&h, "hash"), vec![b("h")]);
    assert_eq!(scan(&h, "STRING"), vec![b("s")]);
    assert!(scan(&h, "list").is_empty());
}

proptest! {
    /// Fields written and deleted between the calls of one `HSCAN`
    /// iteration: every field present from its first call to its last is
    /// returned.
    #[test]
    fn a_field_present_for_the_whole_iteration_is_returned(
        start in proptest::collection::btree_set(0u16..300, 1..120),
        churn in proptest::collection::vec((any::<bool>(), 0u16..300), 0..200),
        count in 1u64..20,
    ) {
        let mut h = Harness::new();
        h.hset("keep", &[("x", "1")]);
        for f in &start {
            h.hset("h", &[(&format!("f{f}"), "v")]);
        }
        let mut always: BTreeSet<Bytes> = start.iter().map(|f| b(&format!("f{f}"))).collect();
        let mut churn = churn.into_iter();
        let (mut cursor, mut seen) = (0, BTreeSet::new());
        loop {
            let (next, fields) = h.hscan("h", cursor, count);
            seen.extend(fields);
            if next == 0 {
                break;
            }
            cursor = next;
            for (add, f) in churn.by_ref().take(3) {
                let field = format!("f{f}");
                if add {
                    h.hset("h", &[(&field, "w")]);
                } else {
                    h.hdel("h", &[&field]);
                    always.remove(&b(&field));
                }
            }
        }
        let missed: Vec<_> = always.difference(&seen).collect();
        prop_assert!(missed.is_empty(), "missed {:?}", missed);
    }
}
