//! Bad input: typed error replies, never a panic, never a state change.

use super::*;
use crate::service::keyspace::{ExpireIf, KeyCommand, KeyQuery, Presence, TtlChange};
use crate::service::{Caller, LeaseInfo, StoreError};
use alloc::vec;
use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};

fn sample_commands() -> Vec<Command> {
    let set = KvCommand::Set { key: b("k"), value: b("v") };
    vec![
        Command::new(Op::Kv { cmd: set.clone(), lease: Some(LeaseId(1)) }),
        Command::in_session(ClientId(1), Seq(2), Op::Kv { cmd: set, lease: None }),
        Command::new(Op::LeaseGrant { ttl: ms(10) }),
        Command::new(Op::LeaseKeepAlive { lease: LeaseId(1) }),
        Command::new(Op::LeaseRevoke { lease: LeaseId(1) }),
        Command::new(Op::Acquire { lock: b("L"), lease: LeaseId(1) }),
        Command::new(Op::TryAcquire { lock: b("L"), lease: LeaseId(1) }),
        Command::new(Op::Release { lock: b("L"), lease: LeaseId(1), token: FencingToken(3) }),
        Command::new(Op::Cancel { lock: b("L"), lease: LeaseId(1) }),
        Command::new(Op::SessionOpen),
        Command::in_session(ClientId(1), Seq(3), Op::SessionClose { client: ClientId(1) }),
        Command::new(Op::Tick { now: at(7) }),
        Command::new(Op::KvLeased { cmd: KvCommand::Delete { key: b("k") }, ttl: ms(5) }),
        Command::new(Op::LeaseRevoke { lease: LeaseId(1) }).by(Caller { holder: b("conn:7"), admin: false }),
        Command::new(Op::SessionOpen).by(Caller { holder: Bytes::new(), admin: true }),
        Command::new(Op::Exec(crate::service::Transaction {
            watch: vec![crate::service::Watched { key: b("w"), version: 7 }],
            steps: vec![
                crate::service::Step::Write(Op::Key(KeyCommand::GetDel { key: b("k") })),
                crate::service::Step::Read(Query::Versions { keys: vec![b("k")] }),
            ],
        })),
    ]
    .into_iter()
    .chain(key_commands().into_iter().map(|c| Command::new(Op::Key(c))))
    .collect()
}

fn key_commands() -> Vec<KeyCommand> {
    let expire_if = ExpireIf { nx: false, xx: true, gt: true, lt: false };
    vec![
        KeyCommand::Set { key: b("k"), value: b("v"), only: Presence::Absent, get: true, ttl: TtlChange::Keep },
        KeyCommand::Set { key: b("k"), value: b(""), only: Presence::Present, get: false, ttl: TtlChange::Past },
        KeyCommand::Set { key: b("k"), value: b("v"), only: Presence::Any, get: false, ttl: TtlChange::Expire(ms(5)) },
        KeyCommand::MSet { pairs: vec![(b("a"), b("1")), (b("b"), b(""))], if_none: true },
        KeyCommand::MSet { pairs: Vec::new(), if_none: false },
        KeyCommand::Append { key: b("k"), value: b("v") },
        KeyCommand::SetRange { key: b("k"), offset: u64::MAX, value: b("v") },
        KeyCommand::IncrBy { key: b("k"), by: i64::MIN },
        KeyCommand::IncrByFloat { key: b("k"), by: b("1.5") },
        KeyCommand::GetDel { key: b("k") },
        KeyCommand::GetEx { key: b("k"), ttl: TtlChange::Clear },
        KeyCommand::Expire { key: b("k"), ttl: Some(ms(9)), only: expire_if },
        KeyCommand::Expire { key: b("k"), ttl: None, only: ExpireIf::default() },
        KeyCommand::Persist { key: b("k") },
        KeyCommand::Delete { keys: vec![b("a"), b("b")] },
        KeyCommand::Rename { from: b("a"), to: b("b"), if_absent: true },
        KeyCommand::Flush,
    ]
}

#[test]
fn every_key_query_round_trips_and_every_truncation_is_refused() {
    let queries = [
        KeyQuery::Strlen { key: b("k") },
        KeyQuery::GetRange { key: b("k"), start: i64::MIN, end: -1 },
        KeyQuery::Ttl { key: b("k") },
        KeyQuery::Type { key: b("k") },
        KeyQuery::Count { keys: vec![b("a"), b("b")] },
        KeyQuery::DbSize,
    ];
    for q in queries {
        let wire = Query::Key(q.clone()).encode();
        assert_eq!(Query::decode(wire.clone()), Ok(Query::Key(q.clone())));
        for cut in 0..wire.len() {
            assert!(Query::decode(wire.slice(..cut)).is_err(), "{q:?} cut at {cut}");
        }
    }
}

#[test]
fn a_key_command_with_unknown_condition_bits_or_a_huge_count_is_refused() {
    let expire = KeyCommand::Expire { key: b("k"), ttl: Some(ms(1)), only: ExpireIf::default() }.encode();
    let mut bits = expire.to_vec();
    *bits.last_mut().unwrap() = 0x10;
    assert!(KeyCommand::decode(bits.into()).is_err());
    let mut huge = BytesMut::new();
    huge.put_u8(11);
    huge.put_u32_le(u32::MAX);
    assert!(KeyCommand::decode(huge.freeze()).is_err(), "a key count past the bytes present");
}

#[test]
fn every_command_round_trips_and_every_truncation_is_refused() {
    for cmd in sample_commands() {
        let wire = cmd.encode();
        assert_eq!(Command::decode(wire.clone()), Ok(cmd.clone()));
        for cut in 0..wire.len() {
            assert!(Command::decode(wire.slice(..cut)).is_err(), "{cmd:?} cut at {cut}");
        }
    }
}

#[test]
fn undecodable_commands_are_malformed_replies_and_change_nothing() {
    let mut h = Harness::new();
    let l = h.grant(100);
    h.set("k", "v", Some(l));
    let before = h.store.clone();
    let mut garbage: Vec<Bytes> = vec![Bytes::new(), Bytes::from_static(&[1]), Bytes::from_static(&[1, 0, 99])];
    for cmd in sample_commands() {
        let wire = cmd.encode();
        garbage.extend((1..wire.len()).map(|cut| wire.slice(..cut)));
        let mut trailing = wire.to_vec();
        trailing.push(0);
        garbage.push(trailing.into());
    }
    for g in garbage {
        assert_eq!(h.apply_bytes(&g), Reply::Error(StoreError::Malformed), "{g:?}");
    }
    assert!(same_state(&h.store, &before));
}

#[test]
fn an_unknown_encoding_version_is_a_typed_error() {
    let mut h = Harness::new();
    let mut wire = Command::new(Op::SessionOpen).encode().to_vec();
    wire[0] = crate::service::command::COMMAND_VERSION + 1;
    assert_eq!(h.apply_bytes(&wire.clone().into()), Reply::Error(StoreError::UnsupportedVersion));
    let mut query = Query::Leases.encode().to_vec();
    query[0] = 2;
    assert_eq!(
        Reply::decode(h.store.query(&Bytes::from(query))).unwrap(),
        Reply::Error(StoreError::UnsupportedVersion)
    );
    assert!(h.store.sessions().is_empty());
}

#[test]
fn a_version_1_command_still_applies_as_an_anonymous_callers() {
    // Version 1 had no caller: version, session tag, op. A log written
    // before callers were recorded replays unchanged.
    let mut h = Harness::new();
    let v1 = Bytes::from_static(&[1, 0, 2, 0, 0x10, 0xa5, 0xd4, 0xe8, 0, 0, 0]); // LeaseGrant 1000 s
    let decoded = Command::decode(v1.clone()).unwrap();
    assert_eq!(decoded, Command::new(Op::LeaseGrant { ttl: Duration::from_secs(1000) }));
    let Reply::Lease { id, .. } = h.apply_bytes(&v1) else { panic!("not granted") };
    assert_eq!(h.store.leases().get(id).unwrap().holder(), &Bytes::new());
    // Anonymous leases are anyone's, as every lease was before.
    let someone = Caller { holder: Bytes::from_static(b"someone"), admin: false };
    let keep_alive = Command::new(Op::LeaseKeepAlive { lease: id }).by(someone);
    assert_eq!(h.apply(&keep_alive), Reply::Lease { id, ttl: Duration::from_secs(1000) });
}

#[test]
fn undecodable_queries_are_malformed_replies() {
    let h = Harness::new();
    for q in [&[][..], &[1], &[1, 9], &[1, 4, 255, 255, 255, 255]] {
        assert_eq!(
            Reply::decode(h.store.query(&Bytes::copy_from_slice(q))).unwrap(),
            Reply::Error(StoreError::Malformed)
        );
    }
}

#[test]
fn oversized_keys_and_values_are_refused_and_change_nothing() {
    let mut h = Harness::with(small_limits());
    let l = h.grant(100);
    let before = h.store.clone();
    assert_eq!(h.set("kkkkk", "v", Some(l)), Reply::Kv(KvReply::Error(crate::service::kv::KvError::KeyTooLarge)));
    assert_eq!(h.set("k", "vvvvvvvvv", Some(l)), Reply::Kv(KvReply::Error(crate::service::kv::KvError::ValueTooLarge)));
    assert!(same_state(&h.store, &before));
}

#[test]
fn replaying_an_applied_index_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let l = h.grant(100);
    let before = h.store.clone();
    let acquire = Command::new(Op::Acquire { lock: b("L"), lease: l }).encode();
    for index in [0, h.index] {
        let reply = Reply::decode(h.store.apply(LogIndex(index), &acquire)).unwrap();
        assert_eq!(reply, Reply::Error(StoreError::StaleIndex));
    }
    assert_eq!(h.store, before);
}

#[test]
fn a_hostile_count_is_refused_without_allocating() {
    let mut wire = BytesMut::new();
    wire.put_u8(1);
    wire.put_u8(8); // Reply::Leases
    wire.put_u32_le(u32::MAX);
    assert!(Reply::decode(wire.freeze()).is_err());
    let huge_mget = Query::Kv(KvQuery::MGet { keys: vec![] }).encode();
    let mut wire = huge_mget.to_vec();
    let n = wire.len();
    wire[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Query::decode(wire.into()).is_err());
}

#[test]
fn every_reply_round_trips() {
    let owner = LockOwner { lease: LeaseId(2), token: FencingToken(9) };
    let info = LeaseInfo { id: LeaseId(3), ttl: ms(5), remaining: Some(ms(1)) };
    let replies = vec![
        Reply::Ok,
        Reply::Kv(KvReply::Int(-4)),
        Reply::Lease { id: LeaseId(1), ttl: ms(10) },
        Reply::Session { client: ClientId(4) },
        Reply::Locked { token: FencingToken(5) },
        Reply::Queued { position: 2 },
        Reply::Busy(owner),
        Reply::Bool(true),
        Reply::Leases(vec![info, LeaseInfo { remaining: None, ..info }]),
        Reply::LeaseTtl(info),
        Reply::Owner(Some(owner)),
        Reply::Owner(None),
        Reply::Error(StoreError::StaleSequence),
        Reply::Error(StoreError::Malformed),
        Reply::Error(StoreError::NotInTransaction),
        Reply::Exec(None),
        Reply::Exec(Some(vec![Reply::Ok, Reply::Kv(KvReply::Value(None)), Reply::Error(StoreError::InvalidTtl)])),
        Reply::Exec(Some(vec![])),
        Reply::Versions(vec![0, 7, u64::MAX]),
    ];
    for r in replies {
        let wire = r.encode();
        assert_eq!(Reply::decode(wire.clone()), Ok(r.clone()));
        for cut in 0..wire.len() {
            assert!(Reply::decode(wire.slice(..cut)).is_err(), "{r:?} cut at {cut}");
        }
    }
    assert!(Reply::decode(Bytes::from_static(&[1, 11, 0])).is_err(), "error code 0 is not an error");
    assert!(Reply::decode(Bytes::from_static(&[1, 11, 19])).is_err());
}
