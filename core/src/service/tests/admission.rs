//! What a node refuses before proposing: everything the store would refuse
//! whatever its state, with the very reply applying would give.

use super::*;
use crate::service::kv::KvError;
use crate::service::{Admitted, Caller, StoreError};
use alloc::vec;

fn check(h: &Harness, cmd: &Command) -> Result<Admitted, Reply> {
    h.store.check(&cmd.encode()).map_err(|r| Reply::decode(r).unwrap())
}

#[test]
fn a_client_tick_is_refused_before_the_log() {
    let h = Harness::new();
    let tick = Command::new(Op::Tick { now: Instant::from_nanos(u64::MAX) });
    assert_eq!(check(&h, &tick), Err(Reply::Error(StoreError::InternalCommand)));
    assert_eq!(check(&h, &tick.clone().by(Caller { holder: Bytes::new(), admin: true })), check(&h, &tick));
}

#[test]
fn every_size_and_ttl_refusal_is_the_reply_applying_would_give() {
    let refused = [
        Op::Kv { cmd: KvCommand::Set { key: b("k"), value: b("123456789") }, lease: None },
        Op::Kv { cmd: KvCommand::Set { key: b("kkkkk"), value: b("v") }, lease: Some(LeaseId(9)) },
        Op::Kv { cmd: KvCommand::Cas { key: b("k"), expected: None, new: Some(b("123456789")) }, lease: None },
        Op::Kv { cmd: KvCommand::Incr { key: b("kkkkk"), by: 1 }, lease: None },
        Op::KvLeased { cmd: KvCommand::Set { key: b("k"), value: b("123456789") }, ttl: ms(10) },
        Op::KvLeased { cmd: KvCommand::Set { key: b("k"), value: b("v") }, ttl: Duration::ZERO },
        Op::LeaseGrant { ttl: Duration::ZERO },
        Op::LeaseGrant { ttl: Duration::from_secs(10 * 24 * 3600) },
        Op::Acquire { lock: b("lllll"), lease: LeaseId(1) },
        Op::TryAcquire { lock: b("lllll"), lease: LeaseId(1) },
        Op::Release { lock: b("lllll"), lease: LeaseId(1), token: FencingToken(1) },
        Op::Cancel { lock: b("lllll"), lease: LeaseId(1) },
    ];
    for op in refused {
        let mut h = Harness::with(small_limits());
        let cmd = Command::new(op);
        let before = h.store.clone();
        let at_check = check(&h, &cmd).expect_err("admitted");
        assert!(matches!(at_check, Reply::Error(_) | Reply::Kv(KvReply::Error(_))), "{at_check:?}");
        assert_eq!(h.apply(&cmd), at_check, "{cmd:?}");
        assert!(same_state(&h.store, &before));
    }
}

#[test]
fn malformed_bytes_are_refused_before_the_log() {
    let h = Harness::new();
    for bad in [&b""[..], &[1], &[2, 0, 0, 0, 0, 0, 0, 99], &[9, 0, 9]] {
        let reply = h.store.check(&Bytes::copy_from_slice(bad)).map_err(|r| Reply::decode(r).unwrap());
        assert!(
            matches!(reply, Err(Reply::Error(StoreError::Malformed | StoreError::UnsupportedVersion))),
            "{bad:?}: {reply:?}"
        );
    }
}

#[test]
fn commands_that_cannot_grow_the_state_are_told_apart() {
    let h = Harness::new();
    let grows = |op: Op| check(&h, &Command::new(op)).unwrap().grows;
    assert!(grows(Op::Kv { cmd: KvCommand::Set { key: b("k"), value: b("v") }, lease: None }));
    assert!(grows(Op::Kv { cmd: KvCommand::Incr { key: b("k"), by: 1 }, lease: None }));
    assert!(grows(Op::LeaseGrant { ttl: ms(5) }));
    assert!(grows(Op::Acquire { lock: b("l"), lease: LeaseId(1) }));
    assert!(!grows(Op::Kv { cmd: KvCommand::Delete { key: b("k") }, lease: None }));
    assert!(!grows(Op::Kv { cmd: KvCommand::Cas { key: b("k"), expected: Some(b("v")), new: None }, lease: None }));
    assert!(!grows(Op::LeaseRevoke { lease: LeaseId(1) }));
    assert!(!grows(Op::LeaseKeepAlive { lease: LeaseId(1) }));
    assert!(!grows(Op::Release { lock: b("l"), lease: LeaseId(1), token: FencingToken(1) }));
}

#[test]
fn a_multi_key_read_is_refused_before_its_reply_is_built() {
    let config = Config { limits: Limits { max_reply_bytes: 10, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    h.set("k", "123456", None);
    let mget = |n| Query::Kv(KvQuery::MGet { keys: vec![b("k"); n] });
    assert_eq!(h.query(&mget(1)), Reply::Kv(KvReply::Values(vec![Some(b("123456"))])));
    assert_eq!(h.query(&mget(2)), Reply::Kv(KvReply::Error(KvError::ReplyTooLarge)));
    // Missing keys cost nothing.
    let missing = Query::Kv(KvQuery::MGet { keys: vec![b("nope"); 1000] });
    assert!(matches!(h.query(&missing), Reply::Kv(KvReply::Values(v)) if v.len() == 1000));
}

#[test]
fn a_lease_list_past_the_reply_limit_is_refused() {
    let config = Config { limits: Limits { max_reply_bytes: 60, ..Limits::default() }, ..Config::default() };
    let mut h = Harness::with(config);
    h.grant(100);
    h.grant(100);
    assert!(matches!(h.query(&Query::Leases), Reply::Leases(l) if l.len() == 2));
    h.grant(100);
    assert_eq!(h.query(&Query::Leases), Reply::Error(StoreError::ReplyTooLarge));
}
