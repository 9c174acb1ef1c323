//! Transactions: one entry, all or (if a watched key changed) nothing;
//! Redis's rules for a step that fails; versions that see every change.

use super::*;
use crate::service::keyspace::{ExpireIf, KeyCommand, KeyQuery, Presence, TtlChange};
use crate::service::transaction::{MAX_STEPS, Step, Transaction, Watched};
use crate::service::{StoreError, versions::MAX_TOMBSTONES};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

fn set(key: &str, value: &str) -> Step {
    Step::Write(Op::Key(KeyCommand::Set {
        key: b(key),
        value: b(value),
        only: Presence::Any,
        get: false,
        ttl: TtlChange::Clear,
    }))
}

fn incr(key: &str) -> Step {
    Step::Write(Op::Key(KeyCommand::IncrBy { key: b(key), by: 1 }))
}

fn get(key: &str) -> Step {
    Step::Read(Query::Kv(KvQuery::Get { key: b(key) }))
}

fn value(v: &str) -> Reply {
    Reply::Kv(KvReply::Value(Some(b(v))))
}

impl Harness {
    fn exec(&mut self, watch: Vec<Watched>, steps: Vec<Step>) -> Reply {
        self.op(Op::Exec(Transaction { watch, steps }))
    }

    fn watch(&self, key: &str) -> Watched {
        match self.query(&Query::Versions { keys: vec![b(key)] }) {
            Reply::Versions(v) => Watched { key: b(key), version: v[0] },
            other => panic!("versions refused: {other:?}"),
        }
    }

    fn expire(&mut self, key: &str, ttl_ms: u64) -> Reply {
        self.op(Op::Key(KeyCommand::Expire { key: b(key), ttl: Some(ms(ttl_ms)), only: ExpireIf::default() }))
    }
}

#[test]
fn the_steps_run_in_order_in_one_entry_and_reads_see_the_writes_before_them() {
    let mut h = Harness::new();
    let before = h.index;
    let reply = h.exec(vec![], vec![get("a"), set("a", "1"), incr("a"), get("a")]);
    assert_eq!(
        reply,
        Reply::Exec(Some(vec![
            Reply::Kv(KvReply::Value(None)),
            Reply::Kv(KvReply::Bool(true)),
            Reply::Kv(KvReply::Int(2)),
            value("2")
        ]))
    );
    assert_eq!(h.index, before + 1, "one entry");
    assert_eq!(h.get("a"), Some(b("2")));
}

#[test]
fn a_failing_step_answers_its_error_and_the_others_still_run() {
    // Redis: errors at EXEC time do not roll back (no partial rollback
    // either: the transaction is not all-or-nothing in that sense).
    let mut h = Harness::new();
    h.set("s", "text", None);
    let reply = h.exec(vec![], vec![set("a", "1"), incr("s"), incr("a")]);
    assert_eq!(
        reply,
        Reply::Exec(Some(vec![
            Reply::Kv(KvReply::Bool(true)),
            Reply::Kv(KvReply::Error(crate::service::kv::KvError::NotAnInteger)),
            Reply::Kv(KvReply::Int(2)),
        ]))
    );
    assert_eq!(h.get("s"), Some(b("text")));
}

#[test]
fn an_unchanged_watched_key_lets_the_transaction_run() {
    let mut h = Harness::new();
    h.set("w", "1", None);
    let w = h.watch("w");
    h.set("other", "x", None);
    assert_eq!(
        h.exec(vec![w, h.watch("absent")], vec![set("a", "1")]),
        Reply::Exec(Some(vec![Reply::Kv(KvReply::Bool(true))]))
    );
    assert_eq!(h.get("a"), Some(b("1")));
}

/// Each way a key can change, applied between the watch and the
/// transaction: every one aborts it, and an aborted transaction changes
/// nothing.
#[test]
fn every_change_of_a_watched_key_aborts_the_transaction() {
    type Change = fn(&mut Harness);
    let changes: Vec<(&str, bool, Change)> = vec![
        ("overwritten", true, |h| {
            h.set("w", "2", None);
        }),
        ("set to the same value", true, |h| {
            h.set("w", "1", None);
        }),
        ("deleted", true, |h| {
            h.op(Op::Key(KeyCommand::Delete { keys: vec![b("w")] }));
        }),
        ("given a TTL", true, |h| {
            h.expire("w", 60_000);
        }),
        ("expired", true, |h| {
            h.expire("w", 10);
            h.tick(1_000);
            h.tick(2_000);
            assert_eq!(h.get("w"), None, "the TTL ended");
        }),
        ("created", false, |h| {
            h.set("w", "1", None);
        }),
        ("created and deleted again", false, |h| {
            h.set("w", "1", None);
            h.op(Op::Key(KeyCommand::Delete { keys: vec![b("w")] }));
        }),
        ("flushed", true, |h| {
            h.op(Op::Key(KeyCommand::Flush));
        }),
        ("flushed while absent (as Redis may: safe)", false, |h| {
            h.op(Op::Key(KeyCommand::Flush));
        }),
        ("renamed onto", false, |h| {
            h.set("src", "v", None);
            h.op(Op::Key(KeyCommand::Rename { from: b("src"), to: b("w"), if_absent: false }));
        }),
    ];
    for (what, present, change) in changes {
        let mut h = Harness::new();
        h.tick(0);
        if present {
            h.set("w", "1", None);
        }
        let w = h.watch("w");
        change(&mut h);
        let before = h.store.clone();
        assert_eq!(h.exec(vec![w], vec![set("a", "1")]), Reply::Exec(None), "watched key {what}");
        assert!(same_state(&h.store, &before), "an aborted transaction changed something ({what})");
    }
}

#[test]
fn locks_and_lease_endings_are_refused_whole() {
    let mut h = Harness::new();
    let lease = h.grant(10_000);
    for op in [
        Op::Acquire { lock: b("L"), lease },
        Op::TryAcquire { lock: b("L"), lease },
        Op::LeaseRevoke { lease },
        Op::SessionOpen,
    ] {
        let before = h.store.clone();
        let reply = h.exec(vec![], vec![set("a", "1"), Step::Write(op.clone())]);
        assert_eq!(reply, Reply::Error(StoreError::NotInTransaction), "{op:?}");
        assert!(same_state(&h.store, &before), "{op:?} ran part of a refused transaction");
        assert_eq!(
            h.store
                .config()
                .admit(&Command::new(Op::Exec(Transaction { watch: vec![], steps: vec![Step::Write(op)] }))),
            Err(Reply::Error(StoreError::NotInTransaction))
        );
    }
    let too_many = Command::new(Op::Exec(Transaction { watch: vec![], steps: vec![incr("n"); MAX_STEPS + 1] }));
    assert_eq!(h.store.config().admit(&too_many), Err(Reply::Error(StoreError::TransactionTooLarge)));
    assert_eq!(h.apply(&too_many), Reply::Error(StoreError::Malformed), "not even decoded");
    assert_eq!(h.get("n"), None);
}

#[test]
fn replies_are_bounded_together_and_a_write_past_the_bound_changes_nothing() {
    let config = Config { limits: Limits { max_reply_bytes: 100, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    h.set("big", &"x".repeat(60), None);
    let getdel = Step::Write(Op::Key(KeyCommand::GetDel { key: b("big") }));
    let reply = h.exec(vec![], vec![get("big"), getdel, get("big"), set("a", "1")]);
    let Reply::Exec(Some(replies)) = reply else { panic!("{reply:?}") };
    assert_eq!(replies[0], value(&"x".repeat(60)));
    assert_eq!(replies[1], Reply::Error(StoreError::ReplyTooLarge), "GETDEL would answer past the bound");
    assert_eq!(replies[2], Reply::Error(StoreError::ReplyTooLarge), "a read past the bound");
    assert_eq!(replies[3], Reply::Kv(KvReply::Bool(true)), "a write with a small reply still runs");
    assert_eq!(h.get("big"), Some(b(&"x".repeat(60))), "the refused GETDEL deleted nothing");
}

#[test]
fn a_replica_restored_from_a_snapshot_decides_a_watch_as_one_that_replayed() {
    let mut h = Harness::new();
    h.tick(0);
    h.set("w", "1", None);
    h.set("gone", "1", None);
    h.op(Op::Key(KeyCommand::Delete { keys: vec![b("gone")] }));
    let (w, gone) = (h.watch("w"), h.watch("gone"));
    let mut restored = Store::new(Config::default());
    restored.restore(&h.store.snapshot()).unwrap();
    assert_eq!(restored, h.store);
    let mut r = Harness { store: restored, index: h.index };
    for x in [&mut h, &mut r] {
        x.set("gone", "back", None);
        assert_eq!(x.exec(vec![w.clone(), gone.clone()], vec![set("a", "1")]), Reply::Exec(None));
        assert_eq!(
            x.exec(vec![w.clone()], vec![set("a", "1")]),
            Reply::Exec(Some(vec![Reply::Kv(KvReply::Bool(true))]))
        );
    }
    assert_eq!(r.store.snapshot(), h.store.snapshot());
}

#[test]
fn entries_older_than_versions_stamp_none_so_replay_and_old_snapshots_agree() {
    // Written before versions existed (command encoding 2): a replica that
    // replays it and one that restores a snapshot without versions must
    // find the same version.
    let mut wire =
        Command::new(Op::Kv { cmd: KvCommand::Set { key: b("k"), value: b("v") }, lease: None }).encode().to_vec();
    wire[0] = 2;
    let mut h = Harness::new();
    h.apply_bytes(&wire.into());
    assert_eq!(h.watch("k").version, 0);
    h.set("k", "w", None);
    assert_eq!(h.watch("k").version, h.index, "this build's entries stamp their index");
}

#[test]
fn forgotten_removals_make_a_watch_abort_never_pass() {
    let mut h = Harness::new();
    let w = h.watch("never-written");
    for i in 0..=MAX_TOMBSTONES {
        let k = format!("k{i}");
        h.set(&k, "v", None);
        h.op(Op::Key(KeyCommand::Delete { keys: vec![b(&k)] }));
    }
    assert_eq!(h.exec(vec![w], vec![set("a", "1")]), Reply::Exec(None), "spurious, but safe");
}

#[test]
fn a_transaction_in_a_session_is_applied_once() {
    let mut h = Harness::new();
    let c = h.open();
    let tx = || Op::Exec(Transaction { watch: vec![], steps: vec![incr("n"), get("n")] });
    let first = h.session(c, 1, tx());
    assert_eq!(first, Reply::Exec(Some(vec![Reply::Kv(KvReply::Int(1)), value("1")])));
    assert_eq!(h.session(c, 1, tx()), first, "a retry answers as the first did");
    assert_eq!(h.get("n"), Some(b("1")));
    let strlen = Step::Read(Query::Key(KeyQuery::Strlen { key: b("n") }));
    assert_eq!(h.exec(vec![], vec![strlen]), Reply::Exec(Some(vec![Reply::Kv(KvReply::Int(1))])));
}

#[test]
fn a_flush_removes_every_key_and_its_ttl_but_no_lease_or_lock() {
    let mut h = Harness::new();
    h.tick(0);
    let lease = h.grant(60_000);
    h.set("plain", "1", None);
    h.set("leased", "1", Some(lease));
    h.set("ttl", "1", None);
    h.expire("ttl", 60_000);
    let token = h.locked("L", lease);
    let key_leases = h.store.leases().len();
    assert_eq!(h.op(Op::Key(KeyCommand::Flush)), Reply::Kv(KvReply::Int(3)));
    assert_eq!(h.store.kv().len(), 0);
    assert_eq!(h.store.key_lease(b"leased"), None);
    assert_eq!(h.store.leases().len(), key_leases - 1, "the TTL's own lease ended, no other");
    assert!(h.live(lease));
    assert_eq!(h.owner("L").map(|o| o.token), Some(token));
    h.set("plain", "2", None);
    assert_eq!(h.get("plain"), Some(b("2")));
}
