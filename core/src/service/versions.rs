//! Key versions, for Redis's `WATCH`: a client reads the versions of the
//! keys it watches, and a transaction ([`super::transaction`]) applies only
//! if each is unchanged when its entry is applied.
//!
//! A key's version is the stamp of the entry that last changed it — its
//! value, its existence or its TTL (Redis's `signalModifiedKey`). An
//! absent key's version is the stamp of the entry that removed it, or a
//! floor below which removals are no longer told apart. Equal versions
//! mean "unchanged", so the comparison is sound as long as a change always
//! yields a version the key never had while watched: a change is stamped
//! with its entry's index, above every index a watcher could have read.
//!
//! Removed keys are remembered by a 64-bit hash, at most
//! [`MAX_TOMBSTONES`] of them; the oldest forgotten raises the floor. Both
//! can only make a transaction abort when nothing it watched changed —
//! which optimistic concurrency allows (Redis aborts on `FLUSHALL` even if
//! a watched key was absent) — never apply when something did.
//!
//! Versions are replicated state: they are in the snapshot, and a stamp is
//! a fact of the log (an entry's index, or 0 for entries written before
//! versions existed — see [`super::command::COMMAND_VERSION`]), so every
//! replica agrees, including one that restored a snapshot taken before
//! versions were kept.

use super::codec::{DecodeError, Reader, put_bytes};
use alloc::collections::{BTreeMap, BTreeSet};
use bytes::{BufMut, Bytes, BytesMut};

/// Most removed keys whose removal is remembered one by one.
pub const MAX_TOMBSTONES: usize = 4096;

/// The versions of a [`super::kv::Kv`]'s keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// The stamp changes made now get: the applying entry's, or 0 between
    /// entries and for entries older than versions.
    stamp: u64,
    /// Present keys last changed by a stamped entry (others are at 0).
    present: BTreeMap<Bytes, u64>,
    /// Removals remembered: key hash to stamp.
    removed: BTreeMap<u64, u64>,
    /// The same, oldest first, to forget the oldest.
    order: BTreeSet<(u64, u64)>,
    /// An absent key's version is at least this.
    floor: u64,
}

/// FNV-1a: fixed, so every replica hashes a key alike. A collision only
/// makes a watcher of one key see the other's removal (a spurious abort).
pub(crate) fn hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Versions {
    /// Changes from now on are stamped `stamp` (0: unversioned).
    pub(crate) fn set_stamp(&mut self, stamp: u64) {
        self.stamp = stamp;
    }

    /// `key` (present) was written or had its TTL changed.
    pub(crate) fn changed(&mut self, key: &Bytes) {
        // A removal remembered under this key's hash stays: it may be
        // another key's, whose watcher must still see it.
        match self.stamp {
            0 => self.present.remove(&key[..]),
            s => self.present.insert(key.clone(), s),
        };
    }

    /// `key` was removed.
    pub(crate) fn removed(&mut self, key: &[u8]) {
        self.present.remove(key);
        if self.stamp == 0 {
            return;
        }
        self.forget_removal(key);
        let h = hash(key);
        self.removed.insert(h, self.stamp);
        self.order.insert((self.stamp, h));
        while self.removed.len() > MAX_TOMBSTONES {
            let Some((stamp, h)) = self.order.pop_first() else { break };
            self.removed.remove(&h);
            self.floor = self.floor.max(stamp);
        }
    }

    /// Every key was removed: any version read before is now stale.
    pub(crate) fn flushed(&mut self) {
        self.present.clear();
        self.removed.clear();
        self.order.clear();
        if self.stamp != 0 {
            self.floor = self.stamp;
        }
    }

    fn forget_removal(&mut self, key: &[u8]) {
        let h = hash(key);
        if let Some(stamp) = self.removed.remove(&h) {
            self.order.remove(&(stamp, h));
        }
    }

    /// The version of `key`, which is present or not.
    pub fn version(&self, key: &[u8], present: bool) -> u64 {
        match present {
            true => self.present.get(key).copied().unwrap_or(0),
            false => self.removed.get(&hash(key)).copied().unwrap_or(0).max(self.floor),
        }
    }

    /// Appends the snapshot form: present keys' versions, removals, floor.
    pub(crate) fn encode(&self, b: &mut BytesMut) {
        b.put_u64_le(self.present.len() as u64);
        for (k, v) in &self.present {
            put_bytes(b, k);
            b.put_u64_le(*v);
        }
        b.put_u64_le(self.removed.len() as u64);
        for (h, v) in &self.removed {
            b.put_u64_le(*h);
            b.put_u64_le(*v);
        }
        b.put_u64_le(self.floor);
    }

    /// Reads the snapshot form; `exists` says whether a key is in the map.
    /// Canonical: keys and hashes ascending, no zero stamp, no version for
    /// an absent key, at most [`MAX_TOMBSTONES`] removals.
    pub(crate) fn decode(r: &mut Reader, exists: impl Fn(&[u8]) -> Option<Bytes>) -> Result<Versions, DecodeError> {
        let mut v = Versions::default();
        let mut last: Option<Bytes> = None;
        for _ in 0..r.u64()? {
            let key = r.bytes()?;
            let stamp = r.u64()?;
            if last.as_ref().is_some_and(|l| *l >= key) {
                return Err(DecodeError("versions out of order"));
            }
            let Some(shared) = exists(&key) else { return Err(DecodeError("version of a missing key")) };
            if stamp == 0 {
                return Err(DecodeError("zero version"));
            }
            v.present.insert(shared, stamp);
            last = Some(key);
        }
        let n = r.u64()?;
        if n > MAX_TOMBSTONES as u64 {
            return Err(DecodeError("too many removals"));
        }
        let mut last = None;
        for _ in 0..n {
            let (h, stamp) = (r.u64()?, r.u64()?);
            if last.is_some_and(|l| l >= h) || stamp == 0 {
                return Err(DecodeError("removals out of order"));
            }
            v.removed.insert(h, stamp);
            v.order.insert((stamp, h));
            last = Some(h);
        }
        v.floor = r.u64()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn every_change_gives_a_new_version_and_removal_is_remembered() {
        let mut v = Versions::default();
        assert_eq!(v.version(b"k", false), 0);
        v.set_stamp(5);
        v.changed(&b("k"));
        assert_eq!(v.version(b"k", true), 5);
        v.set_stamp(9);
        v.removed(b"k");
        assert_eq!(v.version(b"k", false), 9, "a removal is a change");
        v.set_stamp(12);
        v.changed(&b("k"));
        assert_eq!(v.version(b"k", true), 12);
        // Unversioned entries (older than versions) stamp 0.
        v.set_stamp(0);
        v.changed(&b("k"));
        assert_eq!(v.version(b"k", true), 0);
    }

    #[test]
    fn forgetting_old_removals_raises_the_floor() {
        let mut v = Versions::default();
        for i in 0..=MAX_TOMBSTONES as u64 {
            v.set_stamp(i + 1);
            v.removed(format!("k{i}").as_bytes());
        }
        assert_eq!(v.removed.len(), MAX_TOMBSTONES);
        assert_eq!(v.floor, 1, "the oldest removal was forgotten");
        // A key never seen now has the floor for version: a watcher that
        // read 0 aborts (spurious but safe).
        assert_eq!(v.version(b"never", false), 1);
        assert_eq!(v.version(format!("k{MAX_TOMBSTONES}").as_bytes(), false), MAX_TOMBSTONES as u64 + 1);
    }

    #[test]
    fn the_snapshot_form_reads_back_and_refuses_what_is_not_canonical() {
        let mut v = Versions::default();
        v.set_stamp(3);
        v.changed(&b("a"));
        v.removed(b"gone");
        v.set_stamp(0);
        let mut buf = BytesMut::new();
        v.encode(&mut buf);
        let exists = |k: &[u8]| (k == b"a").then(|| b("a"));
        let back = Versions::decode(&mut Reader::new(buf.clone().freeze()), exists).unwrap();
        assert_eq!(back, v);
        let none = |_: &[u8]| None;
        assert!(Versions::decode(&mut Reader::new(buf.freeze()), none).is_err(), "a version for a missing key");
    }
}
