//! `KEYS` and `SCAN`: patterns, bounds, and SCAN's guarantee — a key
//! present for a whole iteration is returned, whatever is written between
//! the calls.

use super::*;
use crate::service::keyspace::{KeyCommand, KeyQuery};
use crate::service::kv::KvError;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

impl Harness {
    fn scan(&self, cursor: u64, count: u64, pattern: Option<&str>) -> (u64, Vec<Bytes>) {
        let q = Query::Key(KeyQuery::Scan { cursor, count, pattern: pattern.map(b), kind: None });
        match self.query(&q) {
            Reply::Kv(KvReply::Values(vs)) => {
                let mut it = vs.into_iter().map(Option::unwrap);
                let next = core::str::from_utf8(&it.next().unwrap()).unwrap().parse().unwrap();
                (next, it.collect())
            }
            other => panic!("scan refused: {other:?}"),
        }
    }

    fn keys(&self, pattern: &str) -> Reply {
        self.query(&Query::Key(KeyQuery::Keys { pattern: b(pattern) }))
    }
}

#[test]
fn keys_answers_the_matching_keys_in_order_within_the_reply_limit() {
    let config = Config { limits: Limits { max_reply_bytes: 18, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    for k in ["user:1", "user:2", "order:1"] {
        h.set(k, "v", None);
    }
    assert_eq!(h.keys("user:*"), Reply::Kv(KvReply::Values(vec![Some(b("user:1")), Some(b("user:2"))])));
    assert_eq!(h.keys("nothing*"), Reply::Kv(KvReply::Values(vec![])));
    assert_eq!(h.keys("*"), Reply::Kv(KvReply::Error(KvError::ReplyTooLarge)), "19 bytes of keys pass 18");
}

#[test]
fn a_scan_looks_at_about_count_keys_per_call_and_ends_at_cursor_zero() {
    let mut h = Harness::new();
    for i in 0..100 {
        h.set(&format!("k{i}"), "v", None);
    }
    let (mut cursor, mut seen, mut calls) = (0, BTreeSet::new(), 0);
    loop {
        let (next, keys) = h.scan(cursor, 10, None);
        assert!(keys.len() <= 10, "{} keys for COUNT 10", keys.len());
        seen.extend(keys);
        calls += 1;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(calls, 10);
    let (_, matching) = h.scan(0, 1000, Some("k1*"));
    assert_eq!(matching.len(), 11);
}

proptest! {
    /// Writes and deletes between the calls of one iteration: every key
    /// present from its first call to its last is returned.
    #[test]
    fn a_key_present_for_the_whole_iteration_is_returned(
        start in proptest::collection::btree_set(0u16..300, 0..120),
        churn in proptest::collection::vec((any::<bool>(), 0u16..300), 0..200),
        count in 1u64..20,
    ) {
        let mut h = Harness::new();
        for k in &start {
            h.set(&format!("k{k}"), "v", None);
        }
        let mut always: BTreeSet<Bytes> = start.iter().map(|k| b(&format!("k{k}"))).collect();
        let mut churn = churn.into_iter();
        let (mut cursor, mut seen) = (0, BTreeSet::new());
        loop {
            let (next, keys) = h.scan(cursor, count, None);
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
            for (add, k) in churn.by_ref().take(3) {
                let key = format!("k{k}");
                if add {
                    h.set(&key, "w", None);
                } else {
                    h.op(Op::Key(KeyCommand::Delete { keys: vec![b(&key)] }));
                    always.remove(&b(&key));
                }
            }
        }
        let missed: Vec<_> = always.difference(&seen).collect();
        prop_assert!(missed.is_empty(), "missed {:?}", missed);
    }
}
