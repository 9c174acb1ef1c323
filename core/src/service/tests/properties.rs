//! Properties over random command sequences with random ticks (including
//! ticks from leaders whose clocks are behind).
//!
//! After every applied command, an independent model and the state before
//! and after check: mutual exclusion in applied order, strictly increasing
//! fencing tokens per lock, no lease expiring before (or lingering after)
//! `first tick after its last grant/keep-alive + ttl`, keys and locks
//! released exactly when their lease goes, refusals changing nothing, and
//! the store's cross-references staying consistent. Then: exactly-once
//! under duplicated and reordered retries, and snapshot/restore agreement.

use super::*;
use crate::service::StoreError;
use crate::service::keyspace::{ExpireIf, KeyCommand, Presence, TtlChange};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

const KEYS: [&str; 3] = ["a", "b", "c"];
const LOCKS: [&str; 2] = ["x", "y"];

/// A lease as an act names it: resolved against the live leases when the
/// command is built, so most acts hit a live lease and some a dead or
/// unknown one.
type LeaseRef = u8;

#[derive(Clone, Debug)]
enum Act {
    Grant(u64),
    KeepAlive(LeaseRef),
    Revoke(LeaseRef),
    Set(usize, Option<LeaseRef>),
    Incr(usize, Option<LeaseRef>),
    Delete(usize),
    /// Create if absent (`false`) or delete if unchanged (`true`).
    Cas(usize, Option<LeaseRef>, bool),
    Acquire(usize, LeaseRef),
    TryAcquire(usize, LeaseRef),
    /// As the holder (`true`), or with a wrong lease or token.
    Release(usize, LeaseRef, bool),
    Cancel(usize, LeaseRef),
    Open,
    Close(u64),
    /// The leader's clock moves by this many ms; negative: a new leader
    /// whose clock is behind.
    Tick(i64),
    /// `SET` with a TTL in ms, or `KEEPTTL` (`None`).
    KeySet(usize, Option<u64>),
    /// `EXPIRE` (`None`: a time already past) under conditions NX, XX, GT,
    /// LT as bits.
    Expire(usize, Option<u64>, u8),
    Persist(usize),
    Rename(usize, usize, bool),
    /// `DEL` of two keys in one entry.
    Del(usize, usize),
    GetDel(usize),
    /// `GETEX` with a TTL in ms, `PERSIST` (`Some(0)`), or a time already
    /// past (`None`).
    GetEx(usize, Option<u64>),
    /// `MSET` (or `MSETNX`) of two keys.
    MSet(usize, usize, bool),
    /// `APPEND`, which keeps the TTL.
    Append(usize),
}

fn arb_act() -> impl Strategy<Value = Act> {
    let lease = any::<LeaseRef>();
    let key = 0..KEYS.len();
    let lock = 0..LOCKS.len();
    prop_oneof![
        3 => prop_oneof![Just(5u64), Just(20), Just(60), Just(150)].prop_map(Act::Grant),
        2 => lease.prop_map(Act::KeepAlive),
        1 => lease.prop_map(Act::Revoke),
        2 => (key.clone(), option::of(lease)).prop_map(|(k, l)| Act::Set(k, l)),
        1 => (key.clone(), option::of(lease)).prop_map(|(k, l)| Act::Incr(k, l)),
        1 => key.clone().prop_map(Act::Delete),
        1 => (key.clone(), option::of(lease), any::<bool>()).prop_map(|(k, l, d)| Act::Cas(k, l, d)),
        4 => (lock.clone(), lease).prop_map(|(k, l)| Act::Acquire(k, l)),
        1 => (lock.clone(), lease).prop_map(|(k, l)| Act::TryAcquire(k, l)),
        3 => (lock.clone(), lease, any::<bool>()).prop_map(|(k, l, r)| Act::Release(k, l, r)),
        1 => (lock, lease).prop_map(|(k, l)| Act::Cancel(k, l)),
        1 => Just(Act::Open),
        1 => (1u64..=3).prop_map(Act::Close),
        5 => (-20i64..=15).prop_map(Act::Tick),
        2 => (key.clone(), option::of(prop_oneof![Just(5u64), Just(40)])).prop_map(|(k, t)| Act::KeySet(k, t)),
        2 => (key.clone(), option::of(prop_oneof![Just(5u64), Just(40)]), 0u8..16)
            .prop_map(|(k, t, c)| Act::Expire(k, t, c)),
        1 => key.clone().prop_map(Act::Persist),
        1 => (key.clone(), key.clone(), any::<bool>()).prop_map(|(a, b, nx)| Act::Rename(a, b, nx)),
        1 => (key.clone(), key.clone()).prop_map(|(a, b)| Act::Del(a, b)),
        1 => key.clone().prop_map(Act::GetDel),
        1 => (key.clone(), option::of(prop_oneof![Just(0u64), Just(5), Just(40)])).prop_map(|(k, t)| Act::GetEx(k, t)),
        1 => (key.clone(), key.clone(), any::<bool>()).prop_map(|(a, b, nx)| Act::MSet(a, b, nx)),
        1 => key.prop_map(Act::Append),
    ]
}

fn resolve(store: &Store, r: LeaseRef) -> LeaseId {
    let live: Vec<LeaseId> = store.leases().iter().map(|(id, _)| id).collect();
    match r {
        0..=199 if !live.is_empty() => live[usize::from(r) % live.len()],
        // Mostly ended leases, sometimes one never granted.
        _ => LeaseId(u64::from(r) % (store.leases().granted() + 2)),
    }
}

fn config() -> Config {
    Config { session_idle: ms(30), ..Config::default() }
}

/// Turns an act into a command against the current state (tokens and CAS
/// expectations are read from it, as a client would have learned them).
fn command(store: &Store, clock: &mut u64, act: &Act) -> Op {
    let lease = |r: &LeaseRef| resolve(store, *r);
    let kv = |cmd, l: &Option<LeaseRef>| Op::Kv { cmd, lease: l.as_ref().map(lease) };
    match act {
        Act::Grant(ttl) => Op::LeaseGrant { ttl: ms(*ttl) },
        Act::KeepAlive(l) => Op::LeaseKeepAlive { lease: lease(l) },
        Act::Revoke(l) => Op::LeaseRevoke { lease: lease(l) },
        Act::Set(k, l) => kv(KvCommand::Set { key: b(KEYS[*k]), value: b("v") }, l),
        Act::Incr(k, l) => kv(KvCommand::Incr { key: b(KEYS[*k]), by: 1 }, l),
        Act::Delete(k) => Op::Kv { cmd: KvCommand::Delete { key: b(KEYS[*k]) }, lease: None },
        Act::Cas(k, l, delete) => {
            let key = b(KEYS[*k]);
            let cmd = if *delete {
                KvCommand::Cas { expected: store.kv().get(&key).cloned(), key, new: None }
            } else {
                KvCommand::Cas { key, expected: None, new: Some(b("c")) }
            };
            kv(cmd, l)
        }
        Act::Acquire(n, l) => Op::Acquire { lock: b(LOCKS[*n]), lease: lease(l) },
        Act::TryAcquire(n, l) => Op::TryAcquire { lock: b(LOCKS[*n]), lease: lease(l) },
        Act::Release(n, l, right) => {
            let (lease, token) = match store.locks().owner(LOCKS[*n].as_bytes()) {
                Some(o) if *right => (o.lease, o.token),
                // The holder with an older token, or someone else with the holder's.
                Some(o) if l % 2 == 0 => (o.lease, FencingToken(o.token.0 - 1)),
                Some(o) => (lease(l), o.token),
                None => (lease(l), FencingToken(store.applied.0 / 2)),
            };
            Op::Release { lock: b(LOCKS[*n]), lease, token }
        }
        Act::Cancel(n, l) => Op::Cancel { lock: b(LOCKS[*n]), lease: lease(l) },
        Act::Open => Op::SessionOpen,
        Act::Close(c) => Op::SessionClose { client: ClientId(*c) },
        Act::Tick(d) => {
            *clock = clock.saturating_add_signed(*d);
            Op::Tick { now: at(*clock) }
        }
        Act::KeySet(k, ttl) => Op::Key(KeyCommand::Set {
            key: b(KEYS[*k]),
            value: b("s"),
            only: Presence::Any,
            get: false,
            ttl: ttl.map_or(TtlChange::Keep, |t| TtlChange::Expire(ms(t))),
        }),
        Act::Expire(k, ttl, c) => Op::Key(KeyCommand::Expire {
            key: b(KEYS[*k]),
            ttl: ttl.map(ms),
            only: ExpireIf { nx: c & 1 != 0, xx: c & 2 != 0, gt: c & 4 != 0, lt: c & 8 != 0 },
        }),
        Act::Persist(k) => Op::Key(KeyCommand::Persist { key: b(KEYS[*k]) }),
        Act::Rename(a, c, nx) => Op::Key(KeyCommand::Rename { from: b(KEYS[*a]), to: b(KEYS[*c]), if_absent: *nx }),
        Act::Del(a, c) => Op::Key(KeyCommand::Delete { keys: vec![b(KEYS[*a]), b(KEYS[*c])] }),
        Act::GetDel(k) => Op::Key(KeyCommand::GetDel { key: b(KEYS[*k]) }),
        Act::GetEx(k, t) => Op::Key(KeyCommand::GetEx {
            key: b(KEYS[*k]),
            ttl: match t {
                None => TtlChange::Past,
                Some(0) => TtlChange::Clear,
                Some(t) => TtlChange::Expire(ms(*t)),
            },
        }),
        Act::MSet(a, c, if_none) => {
            Op::Key(KeyCommand::MSet { pairs: vec![(b(KEYS[*a]), b("m")), (b(KEYS[*c]), b("n"))], if_none: *if_none })
        }
        Act::Append(k) => Op::Key(KeyCommand::Append { key: b(KEYS[*k]), value: b("+") }),
    }
}

/// The model of lease clocks: `None` while waiting for the next tick.
#[derive(Default)]
struct Model {
    leases: BTreeMap<LeaseId, (Duration, Option<Instant>)>,
    highest_token: BTreeMap<Bytes, FencingToken>,
}

fn removes_key(op: &Op, key: &[u8]) -> bool {
    match op {
        Op::Kv { cmd: KvCommand::Delete { key: k } | KvCommand::Cas { key: k, new: None, .. }, .. } => &k[..] == key,
        Op::Key(
            KeyCommand::Expire { key: k, ttl: None, .. }
            | KeyCommand::Rename { from: k, .. }
            | KeyCommand::GetDel { key: k }
            | KeyCommand::GetEx { key: k, ttl: TtlChange::Past },
        ) => &k[..] == key,
        Op::Key(KeyCommand::Delete { keys }) => keys.iter().any(|k| &k[..] == key),
        _ => false,
    }
}

/// The store's tables agree with each other.
fn check_consistent(s: &Store) -> Result<(), TestCaseError> {
    for (key, &l) in &s.key_leases {
        prop_assert!(s.kv().get(key).is_some(), "attached key {:?} missing", key);
        let lease = s.leases().get(l).map_err(|e| TestCaseError::fail(format!("{key:?} on {l:?}: {e}")))?;
        prop_assert!(lease.keys().any(|k| k == key));
    }
    for (id, lease) in s.leases().iter() {
        for k in lease.keys() {
            prop_assert_eq!(s.key_lease(k), Some(id));
        }
        prop_assert!(!(lease.for_key() && lease.is_unused()), "{:?}, a key's TTL, outlived its key", id);
        let mut expected = BTreeSet::new();
        for (name, owner) in s.locks().iter() {
            if owner.lease == id || s.locks().waiters(name).any(|w| w == id) {
                expected.insert(name.clone());
            }
        }
        prop_assert_eq!(lease.locks().cloned().collect::<BTreeSet<_>>(), expected);
    }
    for (name, owner) in s.locks().iter() {
        prop_assert!(s.leases().is_live(owner.lease), "{:?} held by dead {:?}", name, owner.lease);
        let waiters: Vec<_> = s.locks().waiters(name).collect();
        prop_assert!(waiters.iter().all(|&w| s.leases().is_live(w) && w != owner.lease));
        prop_assert_eq!(waiters.iter().collect::<BTreeSet<_>>().len(), waiters.len());
    }
    Ok(())
}

/// Checks one applied command against the state before it and the model.
fn check_step(
    model: &mut Model,
    before: &Store,
    after: &Store,
    index: LogIndex,
    op: &Op,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    check_consistent(after)?;
    if matches!(reply, Reply::Error(_) | Reply::Kv(KvReply::Error(_))) {
        prop_assert!(same_state(after, before), "a refusal changed state: {:?} -> {:?}", op, reply);
    }

    // Lease clocks: start at the first tick after a grant or keep-alive;
    // a key command's TTL is a grant too.
    if let Reply::Lease { id, ttl } = reply {
        model.leases.insert(*id, (*ttl, None));
    }
    for (id, lease) in after.leases().iter().filter(|(id, _)| !before.leases().is_live(*id)) {
        if !matches!(reply, Reply::Lease { id: granted, .. } if *granted == id) {
            prop_assert!(lease.for_key() && matches!(op, Op::Key(_)), "{:?} granted by {:?}", id, op);
            model.leases.insert(id, (lease.ttl(), None));
        }
    }
    let ended: BTreeSet<LeaseId> =
        before.leases().iter().map(|(id, _)| id).filter(|&id| !after.leases().is_live(id)).collect();
    if let Op::Tick { now } = op {
        let log_now = before.now().max(*now);
        prop_assert_eq!(after.now(), log_now);
        for (id, (ttl, start)) in &mut model.leases {
            let start = *start.get_or_insert(log_now);
            let deadline = start + *ttl;
            if ended.contains(id) {
                prop_assert!(log_now >= deadline, "{:?} expired early: {:?} < {:?}", id, log_now, deadline);
            } else {
                prop_assert!(log_now < deadline, "{:?} outlived its deadline {:?}", id, deadline);
            }
        }
    } else {
        for id in &ended {
            // A key's TTL ends when its key lets go of it.
            let key_ttl =
                before.leases().get(*id).is_ok_and(|l| l.for_key()) && matches!(op, Op::Key(_) | Op::Kv { .. });
            prop_assert!(
                key_ttl || matches!(op, Op::LeaseRevoke { lease } if lease == id),
                "{:?} ended by {:?}",
                id,
                op
            );
        }
    }
    model.leases.retain(|id, _| !ended.contains(id));
    prop_assert_eq!(
        model.leases.keys().copied().collect::<Vec<_>>(),
        after.leases().iter().map(|(id, _)| id).collect::<Vec<_>>()
    );

    // Keys go exactly with their lease (a key's TTL that its key let go of
    // ends without it).
    for (key, l) in &before.key_leases {
        if ended.contains(l) && matches!(op, Op::Tick { .. } | Op::LeaseRevoke { .. }) {
            prop_assert!(after.kv().get(key).is_none(), "{:?} outlived {:?}", key, l);
        }
    }
    for k in KEYS {
        let k = k.as_bytes();
        if before.kv().get(k).is_some() && after.kv().get(k).is_none() {
            let lease_ended = before.key_lease(k).is_some_and(|l| ended.contains(&l));
            prop_assert!(lease_ended || removes_key(op, k), "{:?} vanished on {:?}", k, op);
        }
    }

    // Locks: one holder at a time, handed on only by its release or its
    // lease's end; each grant's token is this entry's index and above every
    // earlier token of that lock.
    for id in &ended {
        prop_assert!(after.locks().iter().all(|(n, o)| o.lease != *id && after.locks().waiters(n).all(|w| w != *id)));
    }
    for name in LOCKS {
        let (o1, o2) = (before.locks().owner(name.as_bytes()), after.locks().owner(name.as_bytes()));
        if o1 == o2 {
            continue;
        }
        if let Some(o1) = o1 {
            let released = matches!(op, Op::Release { lock, lease, .. } if lock == name.as_bytes() && *lease == o1.lease)
                && *reply == Reply::Ok;
            prop_assert!(released || ended.contains(&o1.lease), "{} taken from {:?} by {:?}", name, o1, op);
        }
        if let Some(o2) = o2 {
            prop_assert_eq!(o2.token, FencingToken::from_index(index));
            let highest = model.highest_token.insert(b(name), o2.token);
            prop_assert!(highest.is_none_or(|h| h < o2.token), "{} token {:?} after {:?}", name, o2.token, highest);
        }
    }
    match (op, reply) {
        (Op::Acquire { lock, lease } | Op::TryAcquire { lock, lease }, Reply::Locked { token }) => {
            prop_assert_eq!(after.locks().owner(lock), Some(LockOwner { lease: *lease, token: *token }));
        }
        (Op::Acquire { lock, lease }, Reply::Queued { position }) => {
            let place = after.locks().waiters(lock).position(|w| w == *lease);
            prop_assert_eq!(place.map(|p| p as u64 + 1), Some(*position));
        }
        (Op::TryAcquire { .. }, Reply::Queued { .. }) => prop_assert!(false, "a try-acquire queued"),
        _ => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_lease_and_lock_rule(acts in vec(arb_act(), 1..120)) {
        let mut h = Harness::with(config());
        let mut model = Model::default();
        let mut clock = 0;
        for act in &acts {
            let op = command(&h.store, &mut clock, act);
            let before = h.store.clone();
            let reply = h.op(op.clone());
            check_step(&mut model, &before, &h.store, LogIndex(h.index), &op, &reply)?;
        }
    }

    /// A client numbers its commands; the log holds one to three copies of
    /// each (retries), some delayed past later commands.
    #[test]
    fn duplicated_and_reordered_retries_apply_exactly_once(
        copies in vec(vec(0usize..6, 1..4), 1..25),
        ticks in vec(any::<bool>(), 0..100),
    ) {
        let mut deliveries: Vec<(usize, u64)> = Vec::new();
        for (i, delays) in copies.iter().enumerate() {
            let seq = i as u64 + 1;
            deliveries.extend(delays.iter().map(|d| (i + d, seq)));
        }
        deliveries.sort();
        let mut h = Harness::new();
        let c = h.open();
        let mut ticks = ticks.into_iter();
        let (mut last, mut fresh) = (0u64, 0i64);
        let mut first_reply = BTreeMap::new();
        for (n, &(_, seq)) in deliveries.iter().enumerate() {
            if ticks.next() == Some(true) {
                h.tick(n as u64);
            }
            let op = Op::Kv { cmd: KvCommand::Incr { key: b("n"), by: 1 }, lease: None };
            let reply = h.session(c, seq, op);
            if seq > last {
                fresh += 1;
                last = seq;
                prop_assert_eq!(&reply, &Reply::Kv(KvReply::Int(fresh)));
                first_reply.insert(seq, reply);
            } else if seq == last {
                prop_assert_eq!(Some(&reply), first_reply.get(&seq), "a retry is answered from the cache");
            } else {
                prop_assert_eq!(reply, Reply::Error(StoreError::StaleSequence));
            }
        }
        prop_assert_eq!(h.get("n"), Some(b(&format!("{fresh}"))));
        prop_assert_eq!(h.store.sessions().last_seq(c), Ok(Some(Seq(last))));
    }

    /// A replica restored from a snapshot taken mid-way and fed the rest of
    /// the log agrees, byte for byte, with one that replayed it all.
    #[test]
    fn a_replica_restored_mid_way_agrees_with_a_full_replay(
        steps in vec((arb_act(), option::of((1u64..=3, 1u64..=4)), any::<bool>()), 1..100),
        cut in 0usize..100,
    ) {
        let mut full = Harness::with(config());
        let mut clock = 0;
        let mut log = Vec::new();
        for (act, session, gap) in &steps {
            let op = command(&full.store, &mut clock, act);
            let cmd = match session {
                Some((c, s)) => Command::in_session(ClientId(*c), Seq(*s), op),
                None => Command::new(op),
            };
            // Gaps stand for entries that are not commands (no-ops, membership).
            full.index += u64::from(*gap);
            let reply = full.apply(&cmd);
            log.push((full.index, cmd.encode(), reply));
        }
        let cut = cut.min(log.len());
        let mut part = Store::new(config());
        for (index, cmd, _) in &log[..cut] {
            part.apply(LogIndex(*index), cmd);
        }
        let snap = part.snapshot();
        let mut restored = Store::new(config());
        restored.restore(&snap).unwrap();
        prop_assert_eq!(&restored, &part);
        prop_assert_eq!(restored.snapshot(), snap);
        for (index, cmd, reply) in &log[cut..] {
            let r = Reply::decode(restored.apply(LogIndex(*index), cmd)).unwrap();
            prop_assert_eq!(&r, reply);
        }
        prop_assert_eq!(restored.snapshot(), full.store.snapshot());
        prop_assert_eq!(&restored, &full.store);
    }

    /// Bytes off the wire, valid or not, never panic the store; a refusal
    /// leaves it as it was.
    #[test]
    fn arbitrary_bytes_are_refused_without_a_panic(junk in vec(vec(any::<u8>(), 0..40), 1..30)) {
        let mut h = Harness::with(config());
        let l = h.grant(100);
        h.set("a", "1", Some(l));
        for j in junk {
            let mut bytes = j.clone();
            if let Some(first) = bytes.first_mut() {
                *first = 1; // mostly past the version check
            }
            for candidate in [j, bytes] {
                let candidate = Bytes::from(candidate);
                // A sessioned command's refusal is cached in its session: a change.
                let sessioned = Command::decode(candidate.clone()).is_ok_and(|c| c.session.is_some());
                let before = h.store.clone();
                let reply = h.apply_bytes(&candidate);
                if !sessioned && matches!(reply, Reply::Error(_) | Reply::Kv(KvReply::Error(_))) {
                    prop_assert!(same_state(&h.store, &before));
                }
                check_consistent(&h.store)?;
            }
        }
    }
}

/// Applies `op` and checks the step, as the random-sequence property does.
fn checked(h: &mut Harness, model: &mut Model, op: Op) -> Reply {
    let before = h.store.clone();
    let reply = h.op(op.clone());
    check_step(model, &before, &h.store, LogIndex(h.index), &op, &reply).unwrap();
    reply
}

/// Canaries: the step checker must catch planted faults, or it proves nothing.
#[test]
fn the_checker_catches_a_planted_early_expiry() {
    let mut h = Harness::with(config());
    let mut model = Model::default();
    checked(&mut h, &mut model, Op::Tick { now: at(100) });
    checked(&mut h, &mut model, Op::LeaseGrant { ttl: ms(10) });
    checked(&mut h, &mut model, Op::Tick { now: at(105) });
    // A store that counted the clock from the tick before the grant would
    // end the lease at 110, not 115.
    let mut broken = h.clone();
    broken.op(Op::LeaseRevoke { lease: LeaseId(1) });
    broken.store.now = at(110);
    let tick = Op::Tick { now: at(110) };
    let err = check_step(&mut model, &h.store, &broken.store, LogIndex(broken.index), &tick, &Reply::Ok).unwrap_err();
    assert!(format!("{err}").contains("expired early"), "{err}");
}

#[test]
fn the_checker_catches_a_lock_taken_from_a_live_holder() {
    let mut h = Harness::with(config());
    let mut model = Model::default();
    let (a, b_) = (LeaseId(1), LeaseId(2));
    checked(&mut h, &mut model, Op::LeaseGrant { ttl: ms(1_000) });
    checked(&mut h, &mut model, Op::LeaseGrant { ttl: ms(1_000) });
    checked(&mut h, &mut model, Op::Acquire { lock: b("x"), lease: a });
    checked(&mut h, &mut model, Op::Acquire { lock: b("x"), lease: b_ });
    // A store that handed the lock on without a release or an expiry.
    let mut broken = h.store.clone();
    let next = FencingToken(h.index + 1);
    broken.locks = crate::service::Locks::from_parts(vec![(b("x"), LockOwner { lease: b_, token: next }, Vec::new())]);
    broken.leases.remove_lock(a, b"x");
    broken.now = at(1);
    let tick = Op::Tick { now: at(1) };
    let err = check_step(&mut model, &h.store, &broken, LogIndex(next.0), &tick, &Reply::Ok).unwrap_err();
    assert!(format!("{err}").contains("taken from"), "{err}");
}
