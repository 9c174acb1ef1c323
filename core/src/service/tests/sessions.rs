//! Session rules: exactly-once under retries, idle expiry in log time.

use super::*;
use crate::service::keyspace::{KeyCommand, Presence, TtlChange};
use crate::service::{Caller, StoreError};

fn incr(key: &str) -> Op {
    Op::Kv { cmd: KvCommand::Incr { key: b(key), by: 1 }, lease: None }
}

#[test]
fn a_retried_command_gets_the_cached_reply_and_is_not_applied_again() {
    let mut h = Harness::new();
    let c = h.open();
    assert_eq!(h.session(c, 1, incr("n")), Reply::Kv(KvReply::Int(1)));
    // The client timed out and retried: the copy lands later in the log.
    assert_eq!(h.session(c, 1, incr("n")), Reply::Kv(KvReply::Int(1)));
    assert_eq!(h.get("n"), Some(b("1")));
    assert_eq!(h.session(c, 2, incr("n")), Reply::Kv(KvReply::Int(2)));
}

#[test]
fn a_retried_grant_does_not_grant_a_second_lease() {
    let mut h = Harness::new();
    let c = h.open();
    let grant = Op::LeaseGrant { ttl: ms(100) };
    let first = h.session(c, 1, grant.clone());
    assert_eq!(h.session(c, 1, grant), first);
    assert_eq!(h.store.leases().len(), 1);
}

#[test]
fn an_older_sequence_number_is_a_typed_error_and_applies_nothing() {
    let mut h = Harness::new();
    let c = h.open();
    h.session(c, 1, incr("n"));
    h.session(c, 5, incr("n"));
    let before = h.store.clone();
    assert_eq!(h.session(c, 4, incr("n")), Reply::Error(StoreError::StaleSequence));
    assert_eq!(h.session(c, 1, incr("n")), Reply::Error(StoreError::StaleSequence));
    assert!(same_state(&h.store, &before));
    assert_eq!(h.get("n"), Some(b("2")));
}

#[test]
fn a_refused_command_is_answered_the_same_on_retry() {
    let mut h = Harness::new();
    let c = h.open();
    let l = h.grant(1_000);
    let revoke = Op::LeaseRevoke { lease: l };
    assert_eq!(h.session(c, 1, revoke.clone()), Reply::Ok);
    // Without the session the retry would say the lease is gone.
    assert_eq!(h.session(c, 1, revoke.clone()), Reply::Ok);
    assert_eq!(h.op(revoke), Reply::Error(StoreError::LeaseExpired));
}

#[test]
fn a_session_expires_after_its_idle_time_counted_from_the_next_tick() {
    let mut h = Harness::with(Config { session_idle: ms(100), ..Config::default() });
    h.tick(1_000);
    let c = h.open();
    h.tick(1_050);
    h.tick(1_100);
    h.session(c, 1, incr("n"));
    h.tick(1_120);
    h.tick(1_219);
    assert!(h.store.sessions().is_open(c), "the command restarted the idle clock at 1120");
    h.tick(1_220);
    assert!(!h.store.sessions().is_open(c));
    assert_eq!(h.session(c, 2, incr("n")), Reply::Error(StoreError::SessionExpired));
    assert_eq!(h.get("n"), Some(b("1")));
}

#[test]
fn closed_and_unknown_sessions_are_typed_errors() {
    let mut h = Harness::new();
    let c = h.open();
    assert_eq!(h.op(Op::SessionClose { client: c }), Reply::Bool(true));
    assert_eq!(h.op(Op::SessionClose { client: c }), Reply::Bool(false));
    let before = h.store.clone();
    assert_eq!(h.session(c, 1, incr("n")), Reply::Error(StoreError::SessionExpired));
    assert_eq!(h.session(ClientId(9), 1, incr("n")), Reply::Error(StoreError::UnknownSession));
    assert!(same_state(&h.store, &before));
}

#[test]
fn a_session_on_a_tick_or_an_open_is_malformed() {
    let mut h = Harness::new();
    let c = h.open();
    let before = h.store.clone();
    for op in [Op::Tick { now: at(5) }, Op::SessionOpen] {
        let cmd = Command::in_session(c, Seq(1), op);
        assert!(Command::decode(cmd.encode()).is_err());
        assert_eq!(h.apply(&cmd), Reply::Error(StoreError::Malformed));
        h.index += 1;
        assert_eq!(h.store.execute(LogIndex(h.index), cmd), Reply::Error(StoreError::Malformed));
    }
    assert!(same_state(&h.store, &before));
}

#[test]
fn sessions_and_their_cached_replies_survive_a_snapshot() {
    let mut h = Harness::new();
    let c = h.open();
    h.session(c, 3, incr("n"));
    let mut r = Harness { store: Store::new(Config::default()), index: h.index };
    r.store.restore(&h.store.snapshot()).unwrap();
    assert_eq!(r.session(c, 3, incr("n")), Reply::Kv(KvReply::Int(1)));
    assert_eq!(r.session(c, 2, incr("n")), Reply::Error(StoreError::StaleSequence));
    assert_eq!(r.get("n"), Some(b("1")));
}

fn open_as(h: &mut Harness, holder: &str) -> ClientId {
    let caller = Caller { holder: b(holder), admin: false };
    match h.apply(&Command::new(Op::SessionOpen).by(caller)) {
        Reply::Session { client } => client,
        other => panic!("open refused: {other:?}"),
    }
}

fn as_holder(client: ClientId, seq: u64, op: Op, holder: &str, admin: bool) -> Command {
    Command::in_session(client, Seq(seq), op).by(Caller { holder: b(holder), admin })
}

#[test]
fn only_the_opener_or_an_admin_uses_or_closes_a_session() {
    let mut h = Harness::new();
    let c = open_as(&mut h, "user:a");
    assert_eq!(h.apply(&as_holder(c, 1, incr("n"), "user:a", false)), Reply::Kv(KvReply::Int(1)));
    let before = h.store.clone();
    // Another client could read the saved reply, or push the sequence on.
    assert_eq!(h.apply(&as_holder(c, 1, incr("n"), "user:b", false)), Reply::Error(StoreError::SessionNotOwner));
    assert_eq!(h.apply(&as_holder(c, 9, incr("n"), "user:b", false)), Reply::Error(StoreError::SessionNotOwner));
    let close = Command::new(Op::SessionClose { client: c });
    assert_eq!(
        h.apply(&close.clone().by(Caller { holder: b("user:b"), admin: false })),
        Reply::Error(StoreError::SessionNotOwner)
    );
    assert!(same_state(&h.store, &before));
    assert_eq!(h.apply(&as_holder(c, 2, incr("n"), "user:root", true)), Reply::Kv(KvReply::Int(2)));
    assert_eq!(h.apply(&close.by(Caller { holder: b("user:a"), admin: false })), Reply::Bool(true));
    // Opened anonymously: anyone's.
    let anon = h.open();
    assert_eq!(h.apply(&as_holder(anon, 1, incr("n"), "user:b", false)), Reply::Kv(KvReply::Int(3)));
}

#[test]
fn a_full_table_evicts_the_least_recently_used_session() {
    let bounds = crate::service::SessionBounds { max_sessions: 2, ..Default::default() };
    let mut h = Harness::with(Config { sessions: bounds, ..Config::default() });
    let (old, used) = (h.open(), h.open());
    h.session(used, 1, incr("n"));
    h.session(old, 1, incr("n"));
    // `used` was used before `old`'s last command: it goes.
    let new = h.open();
    assert_eq!(h.store.sessions().len(), 2);
    assert!(!h.store.sessions().is_open(used));
    // Its client learns its command may have been applied; nothing twice.
    assert_eq!(h.session(used, 1, incr("n")), Reply::Error(StoreError::SessionExpired));
    assert_eq!(h.session(old, 1, incr("n")), Reply::Kv(KvReply::Int(2)));
    assert_eq!(h.session(new, 1, incr("n")), Reply::Kv(KvReply::Int(3)));
    assert_eq!(h.get("n"), Some(b("3")));
}

#[test]
fn a_reply_too_large_to_keep_is_applied_once_and_its_retry_says_so() {
    let bounds = crate::service::SessionBounds { max_reply_bytes: 64, ..Default::default() };
    let mut h = Harness::with(Config { sessions: bounds, ..Config::default() });
    let c = h.open();
    let big = "x".repeat(100);
    h.set("k", &big, None);
    let getset = |v: &str| {
        Op::Key(KeyCommand::Set { key: b("k"), value: b(v), only: Presence::Any, get: true, ttl: TtlChange::Clear })
    };
    assert_eq!(h.session(c, 1, getset("y")), Reply::Kv(KvReply::Value(Some(b(&big)))));
    h.set("k", "z", None);
    assert_eq!(h.session(c, 1, getset("y")), Reply::Error(StoreError::ReplyNotKept));
    assert_eq!(h.get("k"), Some(b("z")), "the retry applied nothing");
    // A small reply is kept as before.
    assert_eq!(h.session(c, 2, getset("w")), Reply::Kv(KvReply::Value(Some(b("z")))));
    assert_eq!(h.session(c, 2, getset("w")), Reply::Kv(KvReply::Value(Some(b("z")))));
}
