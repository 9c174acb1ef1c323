//! Snapshot rules: the whole state, canonical, refused when damaged.

use super::*;
use crate::service::{Caller, RestoreError, StoreError};
use alloc::vec::Vec;

/// A store with something in every table.
fn busy() -> Harness {
    let mut h = Harness::with(Config { session_idle: ms(500), ..Config::default() });
    h.tick(10);
    let (a, b_) = (h.grant(100), h.grant(300));
    h.tick(20);
    let pending = h.grant(50);
    h.set("k", "v", Some(a));
    h.set("plain", "1", None);
    h.locked("L", a);
    h.acquire("L", b_);
    h.acquire("L", pending);
    h.locked("M", b_);
    let c = h.open();
    h.session(c, 1, Op::LeaseKeepAlive { lease: a });
    h.open();
    h
}

#[test]
fn a_restored_store_equals_the_original_and_snapshots_the_same_bytes() {
    let h = busy();
    let snap = h.store.snapshot();
    let mut r = Store::new(h.store.config);
    r.restore(&snap).unwrap();
    assert_eq!(r, h.store);
    assert_eq!(r.snapshot(), snap);
    assert_eq!(r.applied(), LogIndex(h.index));
}

#[test]
fn a_restored_store_goes_on_to_expire_and_grant_like_the_original() {
    let mut h = busy();
    let mut r = Harness { store: Store::new(h.store.config), index: h.index };
    r.store.restore(&h.store.snapshot()).unwrap();
    for now in [50, 100, 110, 200, 400, 800] {
        h.tick(now);
        r.tick(now);
        assert_eq!(r.store.snapshot(), h.store.snapshot(), "after tick {now}");
    }
    assert!(h.store.leases().is_empty() && h.store.locks().is_empty() && h.store.sessions().is_empty());
}

#[test]
fn a_damaged_snapshot_is_refused_and_leaves_the_store_alone() {
    let h = busy();
    let snap = h.store.snapshot();
    let mut other = Harness::new();
    other.set("z", "0", None);
    let before = other.store.clone();
    for cut in 0..snap.len() {
        assert!(other.store.restore(&snap.slice(..cut)).is_err(), "cut at {cut}");
    }
    let mut trailing = snap.to_vec();
    trailing.push(0);
    assert!(other.store.restore(&trailing.into()).is_err());
    let mut v6 = snap.to_vec();
    v6[0] = 6;
    assert_eq!(other.store.restore(&v6.into()), Err(RestoreError::UnsupportedVersion(6)));
    assert_eq!(other.store, before);
}

#[test]
fn a_snapshot_whose_references_dangle_is_refused() {
    // A store whose only lease holds a key; then cut the lease out of the
    // lease table by rewriting its count and entry.
    let mut h = Harness::new();
    let l = h.grant(100);
    h.set("k", "v", Some(l));
    let snap = h.store.snapshot().to_vec();
    // After version, applied, log time and the clock term's "none" tag.
    let kv_len = u32::from_le_bytes(snap[18..22].try_into().unwrap()) as usize;
    let leases_at = 22 + kv_len + 8; // after the granted counter
    let mut dangling = snap[..leases_at].to_vec();
    dangling.extend_from_slice(&0u64.to_le_bytes()); // no live leases
    dangling.extend_from_slice(&snap[leases_at + 8 + 17..]); // skip count and the one (id, ttl, pending) entry
    let mut r = Store::default();
    assert_eq!(
        r.restore(&dangling.into()),
        Err(RestoreError::Malformed("key attached to a missing key or lease")),
        "the key's lease is missing"
    );
}

/// A version 3 snapshot, written field by field as builds before key TTLs
/// wrote it: one key `k` on lease 1 (holder `h`, 5 s, due at 6 s of log
/// time), log time 1 s, clock term 2, applied index 7.
fn version_3_snapshot() -> Bytes {
    use bytes::BufMut;
    let mut kv = bytes::BytesMut::new();
    kv.put_u8(1);
    kv.put_u64_le(0);
    kv.put_u64_le(1);
    for field in [&b"k"[..], b"v"] {
        kv.put_u32_le(field.len() as u32);
        kv.put_slice(field);
    }
    let mut s = bytes::BytesMut::new();
    s.put_u8(3);
    s.put_u64_le(7);
    s.put_u64_le(at(1_000).as_nanos());
    s.put_u8(1);
    s.put_u64_le(2);
    s.put_u32_le(kv.len() as u32);
    s.put_slice(&kv);
    s.put_u64_le(1); // leases granted
    s.put_u64_le(1); // live leases
    s.put_u64_le(1);
    s.put_u64_le(5_000_000_000);
    s.put_u8(1);
    s.put_u64_le(at(6_000).as_nanos());
    s.put_u32_le(1);
    s.put_slice(b"h");
    s.put_u64_le(1); // key attachments
    s.put_u32_le(1);
    s.put_slice(b"k");
    s.put_u64_le(1);
    s.put_u64_le(0); // locks
    s.put_u64_le(0); // sessions opened
    s.put_u64_le(0); // live sessions
    s.freeze()
}

#[test]
fn a_version_3_snapshot_restores_with_no_lease_taken_for_a_key_ttl() {
    let mut h = Harness::new();
    h.store.restore(&version_3_snapshot()).unwrap();
    assert_eq!(h.store.applied(), LogIndex(7));
    let lease = h.store.leases().get(LeaseId(1)).unwrap();
    assert_eq!((lease.holder(), lease.for_key()), (&b("h"), false));
    assert_eq!(h.store.key_ttl(b"k"), Some(Some(ms(5_000))));
    // Not a key's own lease: it outlives the key's use of it.
    h.index = 7;
    h.set("k", "w", None);
    assert!(h.live(LeaseId(1)));
    // Written again, it is version 4 and reads back the same.
    let mut again = Store::new(h.store.config);
    again.restore(&h.store.snapshot()).unwrap();
    assert_eq!(again, h.store);
}

/// `store`'s snapshot in version 4: this version's without each session's
/// owner and last use (the fields after its saved reply). The sessions are
/// last: the prefix before them is the snapshot of the store without
/// sessions, less its two zero counts.
pub(super) fn as_version_4(store: &Store) -> Vec<u8> {
    use crate::service::codec::Reader;
    let snap = store.snapshot();
    let mut bare = store.clone();
    bare.sessions = crate::service::Sessions::new(store.config.session_idle);
    let at = bare.snapshot().len() - 16;
    let mut v4 = snap[..at].to_vec();
    let mut r = Reader::new(snap.slice(at..));
    let read = (|| {
        let opened = r.u64()?;
        let n = r.u64()?;
        v4.extend_from_slice(&opened.to_le_bytes());
        v4.extend_from_slice(&n.to_le_bytes());
        for _ in 0..n {
            let start = snap.len() - r.remaining();
            r.u64()?;
            if r.u8()? == 1 {
                r.u64()?;
            }
            if r.u8()? == 1 {
                r.u64()?;
                r.bytes()?;
            }
            v4.extend_from_slice(&snap[start..snap.len() - r.remaining()]);
            r.bytes()?;
            r.u64()?;
        }
        Ok::<(), crate::service::codec::DecodeError>(())
    })();
    read.unwrap();
    v4[0] = 4;
    v4
}

/// `store` as a version 4 snapshot restores it: every session anyone's and
/// last used at index 0.
pub(super) fn sessions_unmarked(store: &Store) -> Store {
    let mut s = store.clone();
    let parts = store.sessions.iter().map(|(id, session, timer)| {
        let session = crate::service::session::Session { owner: Bytes::new(), used: 0, ..session.clone() };
        (id, session, timer.expect("a restored session has a timer"))
    });
    let (idle, bounds) = (store.config.session_idle, store.config.sessions);
    s.sessions = crate::service::Sessions::from_parts(idle, bounds, store.sessions.opened(), parts.collect());
    s
}

/// `store`'s snapshot in version 3: version 4's without each lease's
/// key-TTL mark (the byte after its holder). Fails on a key's own lease,
/// which version 3 could not hold.
pub(super) fn as_version_3(store: &Store) -> Vec<u8> {
    use crate::service::codec::Reader;
    let snap = Bytes::from(as_version_4(store));
    let mut r = Reader::new(snap.clone());
    let mut marks = Vec::new();
    let read = (|| {
        r.u8()?;
        r.u64()?;
        r.u64()?;
        if r.u8()? == 1 {
            r.u64()?;
        }
        r.bytes()?;
        r.u64()?;
        for _ in 0..r.u64()? {
            r.u64()?;
            r.u64()?;
            if r.u8()? == 1 {
                r.u64()?;
            }
            r.bytes()?;
            marks.push(snap.len() - r.remaining());
            assert_eq!(r.u8()?, 0, "a key's own lease has no version 3 form");
        }
        Ok::<(), crate::service::codec::DecodeError>(())
    })();
    read.unwrap();
    let mut v3 = snap.to_vec();
    for at in marks.into_iter().rev() {
        v3.remove(at);
    }
    v3[0] = 3;
    v3
}

#[test]
fn this_versions_snapshot_without_key_ttl_marks_restores_as_version_3() {
    let h = busy();
    let mut r = Store::new(h.store.config);
    r.restore(&Bytes::from(as_version_3(&h.store))).unwrap();
    assert_eq!(r, sessions_unmarked(&h.store));
}

#[test]
fn a_version_4_snapshot_restores_with_every_session_anyones() {
    let mut h = busy();
    let mine = Caller { holder: b("user:a"), admin: false };
    let c = match h.apply(&Command::new(Op::SessionOpen).by(mine.clone())) {
        Reply::Session { client } => client,
        other => panic!("open refused: {other:?}"),
    };
    let mut r = Harness { store: Store::new(h.store.config), index: h.index };
    r.store.restore(&Bytes::from(as_version_4(&h.store))).unwrap();
    assert_eq!(r.store, sessions_unmarked(&h.store));
    // Version 5 keeps the owner: only its opener may use the session.
    let mut v5 = Harness { store: Store::new(h.store.config), index: h.index };
    v5.store.restore(&h.store.snapshot()).unwrap();
    assert_eq!(v5.store, h.store);
    let theirs = Command::in_session(c, Seq(1), Op::SessionClose { client: c });
    assert_eq!(v5.apply(&theirs.clone().by(Caller::default())), Reply::Error(StoreError::SessionNotOwner));
    assert_eq!(r.apply(&theirs.by(Caller::default())), Reply::Bool(true));
}
