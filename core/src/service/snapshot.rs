//! The [`Store`]'s snapshot: a versioned, canonical encoding of its whole
//! state.
//!
//! Canonical means one state has one encoding (every table is written in
//! key order, derived indexes are rebuilt rather than stored), so two
//! replicas that applied the same log produce byte-identical snapshots, and
//! a restore refuses anything that is not in that form.
//!
//! Layout (little-endian; `bytes` is u32-length-prefixed; `timer` is
//! `0` = waiting for the next tick, or `1, deadline`):
//!
//! ```text
//! u8 version | u64 applied | u64 log time | u8 has clock term, [u64 term] | bytes kv snapshot
//! u64 leases granted | u64 n | n × (u64 id, u64 ttl ns, timer, bytes holder, u8 for a key's TTL)
//! u64 n | n × (bytes key, u64 lease)                          key attachments
//! u64 n | n × (bytes name, u64 lease, u64 token, u64 m, m × u64 waiter)
//! u64 sessions opened | u64 n | n × (u64 id, timer, u8 has last, [u64 seq, bytes reply], bytes owner, u64 used)
//! ```

use super::clock::Timer;
use super::codec::{DecodeError, Reader, put_bytes};
use super::command::MAX_HOLDER;
use super::kv::Kv;
use super::leases::Leases;
use super::locks::{LockOwner, Locks};
use super::reply::Reply;
use super::session::{ClientId, Seq, Session, Sessions};
use super::store::{Config, Store};
use super::{RestoreError, Service};
use crate::id::LogIndex;
use crate::lease::{FencingToken, LeaseId};
use crate::time::{Duration, Instant, duration_nanos};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// The version this build writes. Version 4, without session owners and
/// last use, restores with every session anyone's and unused since index 0
/// (the first evicted); version 3, without the key-TTL mark on
/// leases, restores with every lease unmarked (none was granted for a key
/// before); version 2, also without the clock's term, restores as a store
/// whose next tick is a new leader's; version 1, also without lease
/// holders, restores with anonymous leases.
const SNAPSHOT_VERSION: u8 = 5;

impl Store {
    pub(super) fn encode_snapshot(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(SNAPSHOT_VERSION);
        b.put_u64_le(self.applied.0);
        b.put_u64_le(self.now.as_nanos());
        match self.clock_term {
            None => b.put_u8(0),
            Some(t) => {
                b.put_u8(1);
                b.put_u64_le(t);
            }
        }
        put_bytes(&mut b, &self.kv.snapshot());
        b.put_u64_le(self.leases.granted());
        b.put_u64_le(self.leases.len() as u64);
        for (id, lease) in self.leases.iter() {
            b.put_u64_le(id.0);
            b.put_u64_le(duration_nanos(lease.ttl()));
            put_timer(&mut b, self.leases.timer(id));
            put_bytes(&mut b, lease.holder());
            b.put_u8(u8::from(lease.for_key()));
        }
        b.put_u64_le(self.key_leases.len() as u64);
        for (key, lease) in &self.key_leases {
            put_bytes(&mut b, key);
            b.put_u64_le(lease.0);
        }
        b.put_u64_le(self.locks.len() as u64);
        for (name, owner) in self.locks.iter() {
            put_bytes(&mut b, name);
            b.put_u64_le(owner.lease.0);
            b.put_u64_le(owner.token.0);
            b.put_u64_le(self.locks.waiters(name).count() as u64);
            for w in self.locks.waiters(name) {
                b.put_u64_le(w.0);
            }
        }
        b.put_u64_le(self.sessions.opened());
        b.put_u64_le(self.sessions.len() as u64);
        for (id, session, timer) in self.sessions.iter() {
            b.put_u64_le(id.0);
            put_timer(&mut b, timer);
            match &session.last {
                None => b.put_u8(0),
                Some((seq, reply)) => {
                    b.put_u8(1);
                    b.put_u64_le(seq.0);
                    put_bytes(&mut b, &reply.encode());
                }
            }
            put_bytes(&mut b, &session.owner);
            b.put_u64_le(session.used);
        }
        b.freeze()
    }

    /// Rebuilds a store from a snapshot, checking that every reference in
    /// it resolves; `config` is this replica's.
    pub(super) fn decode_snapshot(config: Config, snapshot: &Bytes) -> Result<Store, RestoreError> {
        let mut r = Reader::new(snapshot.clone());
        let version = r.u8().map_err(malformed)?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return Err(RestoreError::UnsupportedVersion(version));
        }
        let store = parse(config, version, &mut r).map_err(malformed)?;
        r.finish().map_err(malformed)?;
        Ok(store)
    }
}

fn malformed(e: DecodeError) -> RestoreError {
    RestoreError::Malformed(e.0)
}

fn put_timer(b: &mut BytesMut, t: Option<Timer>) {
    match t {
        Some(Timer::Armed(d)) => {
            b.put_u8(1);
            b.put_u64_le(d.as_nanos());
        }
        _ => b.put_u8(0),
    }
}

fn timer(r: &mut Reader, ttl: Duration) -> Result<Timer, DecodeError> {
    match r.u8()? {
        0 => Ok(Timer::Pending(ttl)),
        1 => Ok(Timer::Armed(Instant::from_nanos(r.u64()?))),
        _ => Err(DecodeError("bad timer tag")),
    }
}

/// Checks that ids come in strictly increasing order (the canonical form).
fn ascending<T: Ord>(last: &mut Option<T>, next: T) -> Result<(), DecodeError> {
    if last.as_ref().is_some_and(|l| *l >= next) {
        return Err(DecodeError("entries out of order"));
    }
    *last = Some(next);
    Ok(())
}

fn parse(config: Config, version: u8, r: &mut Reader) -> Result<Store, DecodeError> {
    let applied = LogIndex(r.u64()?);
    let now = Instant::from_nanos(r.u64()?);
    let clock_term = match version {
        1 | 2 => None,
        _ => match r.u8()? {
            0 => None,
            1 => Some(r.u64()?),
            _ => return Err(DecodeError("bad option tag")),
        },
    };
    let mut kv = Kv::new(config.limits);
    kv.restore(&r.bytes()?).map_err(|_| DecodeError("bad kv snapshot"))?;

    let granted = r.u64()?;
    let mut leases = Vec::new();
    let mut last = None;
    for _ in 0..r.u64()? {
        let id = LeaseId(r.u64()?);
        ascending(&mut last, id)?;
        if id.0 == 0 || id.0 > granted {
            return Err(DecodeError("lease id never granted"));
        }
        let ttl = Duration::from_nanos(r.u64()?);
        let timer = timer(r, ttl)?;
        let holder = match version {
            1 => Bytes::new(),
            _ => holder(r)?,
        };
        let for_key = match version {
            1..=3 => false,
            _ => match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError("bad bool")),
            },
        };
        leases.push((id, ttl, holder, timer, for_key));
    }
    let mut leases = Leases::from_parts(granted, leases);

    let mut key_leases = BTreeMap::new();
    let mut last = None;
    for _ in 0..r.u64()? {
        let key = Bytes::copy_from_slice(&r.bytes()?);
        let lease = LeaseId(r.u64()?);
        ascending(&mut last, key.clone())?;
        if !kv.contains(&key) || !leases.is_live(lease) {
            return Err(DecodeError("key attached to a missing key or lease"));
        }
        leases.attach_key(lease, key.clone());
        key_leases.insert(key, lease);
    }

    let mut locks = Vec::new();
    let mut last = None;
    for _ in 0..r.u64()? {
        let name = Bytes::copy_from_slice(&r.bytes()?);
        ascending(&mut last, name.clone())?;
        let owner = LockOwner { lease: LeaseId(r.u64()?), token: FencingToken(r.u64()?) };
        let mut seen = BTreeSet::from([owner.lease]);
        let mut waiters = Vec::new();
        for _ in 0..r.u64()? {
            let w = LeaseId(r.u64()?);
            if !seen.insert(w) {
                return Err(DecodeError("lease twice in one lock"));
            }
            waiters.push(w);
        }
        if !seen.iter().all(|&l| leases.is_live(l)) {
            return Err(DecodeError("lock held or awaited by a missing lease"));
        }
        for &l in &seen {
            leases.add_lock(l, name.clone());
        }
        locks.push((name, owner, waiters));
    }

    let opened = r.u64()?;
    let mut sessions = Vec::new();
    let mut last = None;
    for _ in 0..r.u64()? {
        let id = ClientId(r.u64()?);
        ascending(&mut last, id)?;
        if id.0 == 0 || id.0 > opened {
            return Err(DecodeError("session id never opened"));
        }
        let t = timer(r, config.session_idle)?;
        let last = match r.u8()? {
            0 => None,
            1 => Some((Seq(r.u64()?), Reply::decode(r.bytes()?)?)),
            _ => return Err(DecodeError("bad option tag")),
        };
        let (owner, used) = match version {
            ..=4 => (Bytes::new(), 0),
            _ => (holder(r)?, r.u64()?),
        };
        if used > applied.0 {
            return Err(DecodeError("session used after the snapshot's index"));
        }
        sessions.push((id, Session { last, owner, used }, t));
    }

    let mut store = Store::new(config);
    store.applied = applied;
    store.now = now;
    store.clock_term = clock_term;
    store.kv = kv;
    store.key_leases = key_leases;
    store.leases = leases;
    store.locks = Locks::from_parts(locks);
    store.sessions = Sessions::from_parts(config.session_idle, config.sessions, opened, sessions);
    Ok(store)
}

/// A lease's or session's holder: at most [`MAX_HOLDER`] bytes.
fn holder(r: &mut Reader) -> Result<Bytes, DecodeError> {
    let h = r.bytes()?;
    if h.len() > MAX_HOLDER {
        return Err(DecodeError("holder too long"));
    }
    Ok(Bytes::copy_from_slice(&h))
}
