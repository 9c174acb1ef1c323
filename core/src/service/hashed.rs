//! Collections kept in a fixed 64-bit hash order, so that a scan's cursor
//! can be a hash: `SCAN` over the keys of a [`super::kv::Kv`] and `HSCAN`
//! over the [`Fields`] of a hash value share [`scan`] and its guarantee.

use super::codec::{DecodeError, Reader, put_bytes};
use super::versions::hash;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// Most items of one hash a scan returns together before it moves on
/// (see [`scan`]).
pub const MAX_SCAN_RUN: usize = 10_000;

/// A scan from `cursor` over `items`, which are in hash order and start at
/// the first hash not below `cursor`: the items `take` accepts (it answers
/// their size in bytes) among the next `count` or so, and the cursor to go
/// on from (0 when done). An item present from the first call to the last
/// is returned at least once, whatever else changes meanwhile, since a
/// cursor is a hash and an item's hash never changes. Items sharing a hash
/// are returned together, up to [`MAX_SCAN_RUN`] of them (past that, as
/// only crafted names could make, the rest of the run is skipped). Work is
/// bounded by `count` (and that bound), answer bytes by `max_bytes`.
pub fn scan<T>(
    items: impl Iterator<Item = (u64, T)>,
    count: usize,
    max_bytes: usize,
    mut take: impl FnMut(&T) -> Option<usize>,
) -> (u64, Vec<T>) {
    let mut out = Vec::new();
    let (mut examined, mut bytes, mut run) = (0usize, 0usize, 0usize);
    let mut last = None;
    for (h, item) in items {
        let same = last == Some(h);
        run = if same { run + 1 } else { 1 };
        let full = examined >= count.max(1) || bytes >= max_bytes;
        if (full && !same) || run > MAX_SCAN_RUN {
            return (if same { h.saturating_add(1) } else { h }, out);
        }
        examined += 1;
        last = Some(h);
        if let Some(size) = take(&item) {
            bytes = bytes.saturating_add(size);
            out.push(item);
        }
    }
    (0, out)
}

/// The fields of a hash value, in the hash order of their names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    map: BTreeMap<(u64, Bytes), Bytes>,
}

impl Fields {
    /// The value of `field`.
    pub fn get(&self, field: &Bytes) -> Option<&Bytes> {
        // A `Bytes` clone shares the buffer: no copy to look up.
        self.map.get(&(hash(field), field.clone()))
    }

    /// Sets `field`; true if it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        // Copies: a slice would pin the whole received frame in memory.
        let (field, value) = (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value));
        self.map.insert((hash(&field), field), value).is_none()
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &Bytes) -> bool {
        self.map.remove(&(hash(field), field.clone())).is_some()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True without fields.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every field and its value, in hash order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.map.iter().map(|((_, f), v)| (f, v))
    }

    /// Fields and values from `cursor` on, with their hashes, for [`scan`].
    pub fn from_cursor(&self, cursor: u64) -> impl Iterator<Item = (u64, (&Bytes, &Bytes))> {
        self.map.range((cursor, Bytes::new())..).map(|((h, f), v)| (*h, (f, v)))
    }

    /// Appends the snapshot form: a count, then names and values.
    pub(crate) fn encode(&self, b: &mut BytesMut) {
        b.put_u64_le(self.map.len() as u64);
        for (f, v) in self.iter() {
            put_bytes(b, f);
            put_bytes(b, v);
        }
    }

    /// Reads [`Fields::encode`]'s form; an empty hash is malformed, since
    /// a hash without fields does not exist.
    pub(crate) fn decode(r: &mut Reader) -> Result<Fields, DecodeError> {
        let n = r.u64()?;
        let mut fields = Fields::default();
        for _ in 0..n {
            let (f, v) = (r.bytes()?, r.bytes()?);
            if !fields.insert(&f, &v) {
                return Err(DecodeError("a field twice"));
            }
        }
        if fields.is_empty() {
            return Err(DecodeError("a hash without fields"));
        }
        Ok(fields)
    }
}
