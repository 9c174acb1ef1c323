//! Redis's hash commands: a key holding named fields. A hash exists while
//! it has a field (the last `HDEL` removes the key, its TTL with it); a
//! hash command on a string, or a string command on a hash, is
//! [`KvError::WrongType`]. Fields are kept in the hash order of their
//! names ([`crate::service::hashed`]), so `HSCAN` has `SCAN`'s cursor and
//! guarantee.
//!
//! Replies are [`KvReply`](crate::service::kv::KvReply)s; each variant
//! says which.

use crate::service::codec::{DecodeError, Reader, put_bytes, put_list, put_opt_bytes};
use crate::service::kv::{KvError, Limits};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

use super::parse_float;

/// A hash write; goes through the log as one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashCommand {
    /// `HSET` / `HMSET` (or `HSETNX` with `if_absent`: only fields not
    /// there yet are written). Reply: `Int(fields added)`.
    Set {
        /// The key.
        key: Bytes,
        /// Field-value pairs, applied in order.
        pairs: Vec<(Bytes, Bytes)>,
        /// Write only fields that are absent.
        if_absent: bool,
    },
    /// `HDEL`. Reply: `Int(fields removed)`.
    Delete {
        /// The key.
        key: Bytes,
        /// The fields.
        fields: Vec<Bytes>,
    },
    /// `HINCRBY`: adds to a decimal integer field (a missing one is 0).
    /// Reply: `Int(new)`.
    IncrBy {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
        /// The increment.
        by: i64,
    },
    /// `HINCRBYFLOAT`. Reply: `Value(new text)`.
    IncrByFloat {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
        /// The increment as the client wrote it, parsed on apply.
        by: Bytes,
    },
}

/// A hash read, after a read barrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashQuery {
    /// `HGET`. Reply: `Value`.
    Get {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// `HMGET`. Reply: `Values`, one per field.
    MGet {
        /// The key.
        key: Bytes,
        /// The fields.
        fields: Vec<Bytes>,
    },
    /// `HGETALL` (names and values), `HKEYS` (names), `HVALS` (values).
    /// Reply: `Values`, name before value; `Error(ReplyTooLarge)` past the
    /// reply limit.
    All {
        /// The key.
        key: Bytes,
        /// Answer the names.
        names: bool,
        /// Answer the values.
        values: bool,
    },
    /// `HLEN`. Reply: `Int`.
    Len {
        /// The key.
        key: Bytes,
    },
    /// `HEXISTS`. Reply: `Bool`.
    Exists {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// `HSTRLEN`. Reply: `Int`, 0 if absent.
    Strlen {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`.
    /// Reply: `Values`, the next cursor (decimal) first, then each name
    /// (and value).
    Scan {
        /// The key.
        key: Bytes,
        /// Where to go on from; 0 to start.
        cursor: u64,
        /// About how many fields to look at (at most
        /// [`super::MAX_SCAN_COUNT`]).
        count: u64,
        /// Only names matching this glob pattern.
        pattern: Option<Bytes>,
        /// Answer values too.
        values: bool,
    },
}

impl HashCommand {
    /// The key it writes.
    pub fn key(&self) -> &Bytes {
        match self {
            HashCommand::Set { key, .. }
            | HashCommand::Delete { key, .. }
            | HashCommand::IncrBy { key, .. }
            | HashCommand::IncrByFloat { key, .. } => key,
        }
    }

    /// Refuses what any store with `limits` would: a field name past the
    /// key limit, a value past the value limit, an increment that is not a
    /// float. The key is checked with the other key commands.
    pub fn check(&self, limits: &Limits) -> Result<(), KvError> {
        let long_name = |f: &Bytes| f.len() > limits.max_key_bytes;
        match self {
            HashCommand::Set { pairs, .. } => {
                if pairs.iter().any(|(f, _)| long_name(f)) {
                    return Err(KvError::KeyTooLarge);
                }
                if pairs.iter().any(|(_, v)| v.len() > limits.max_value_bytes) {
                    return Err(KvError::ValueTooLarge);
                }
                Ok(())
            }
            HashCommand::Delete { .. } => Ok(()),
            HashCommand::IncrBy { field, .. } if long_name(field) => Err(KvError::KeyTooLarge),
            HashCommand::IncrByFloat { field, .. } if long_name(field) => Err(KvError::KeyTooLarge),
            HashCommand::IncrByFloat { by, .. } if parse_float(by).is_none() => Err(KvError::NotAFloat),
            HashCommand::IncrBy { .. } | HashCommand::IncrByFloat { .. } => Ok(()),
        }
    }

    /// The wire form.
    pub fn encode(&self, b: &mut BytesMut) {
        match self {
            HashCommand::Set { key, pairs, if_absent } => {
                b.put_u8(1);
                put_bytes(b, key);
                b.put_u8(u8::from(*if_absent));
                put_pairs(b, pairs);
            }
            HashCommand::Delete { key, fields } => {
                b.put_u8(2);
                put_bytes(b, key);
                put_list(b, fields);
            }
            HashCommand::IncrBy { key, field, by } => {
                b.put_u8(3);
                put_bytes(b, key);
                put_bytes(b, field);
                b.put_i64_le(*by);
            }
            HashCommand::IncrByFloat { key, field, by } => {
                b.put_u8(4);
                put_bytes(b, key);
                put_bytes(b, field);
                put_bytes(b, by);
            }
        }
    }

    /// Reads [`HashCommand::encode`]'s form.
    pub fn decode(r: &mut Reader) -> Result<HashCommand, DecodeError> {
        Ok(match r.u8()? {
            1 => HashCommand::Set { key: r.bytes()?, if_absent: bool(r)?, pairs: pairs(r)? },
            2 => HashCommand::Delete { key: r.bytes()?, fields: r.list()? },
            3 => HashCommand::IncrBy { key: r.bytes()?, field: r.bytes()?, by: r.i64()? },
            4 => HashCommand::IncrByFloat { key: r.bytes()?, field: r.bytes()?, by: r.bytes()? },
            _ => return Err(DecodeError("unknown hash command")),
        })
    }
}

impl HashQuery {
    /// The key it reads.
    pub fn key(&self) -> &Bytes {
        match self {
            HashQuery::Get { key, .. }
            | HashQuery::MGet { key, .. }
            | HashQuery::All { key, .. }
            | HashQuery::Len { key }
            | HashQuery::Exists { key, .. }
            | HashQuery::Strlen { key, .. }
            | HashQuery::Scan { key, .. } => key,
        }
    }

    /// The wire form.
    pub fn encode(&self, b: &mut BytesMut) {
        match self {
            HashQuery::Get { key, field } => {
                b.put_u8(1);
                put_bytes(b, key);
                put_bytes(b, field);
            }
            HashQuery::MGet { key, fields } => {
                b.put_u8(2);
                put_bytes(b, key);
                put_list(b, fields);
            }
            HashQuery::All { key, names, values } => {
                b.put_u8(3);
                put_bytes(b, key);
                b.put_u8(u8::from(*names) | u8::from(*values) << 1);
            }
            HashQuery::Len { key } => {
                b.put_u8(4);
                put_bytes(b, key);
            }
            HashQuery::Exists { key, field } => {
                b.put_u8(5);
                put_bytes(b, key);
                put_bytes(b, field);
            }
            HashQuery::Strlen { key, field } => {
                b.put_u8(6);
                put_bytes(b, key);
                put_bytes(b, field);
            }
            HashQuery::Scan { key, cursor, count, pattern, values } => {
                b.put_u8(7);
                put_bytes(b, key);
                b.put_u64_le(*cursor);
                b.put_u64_le(*count);
                put_opt_bytes(b, pattern.as_deref());
                b.put_u8(u8::from(*values));
            }
        }
    }

    /// Reads [`HashQuery::encode`]'s form.
    pub fn decode(r: &mut Reader) -> Result<HashQuery, DecodeError> {
        Ok(match r.u8()? {
            1 => HashQuery::Get { key: r.bytes()?, field: r.bytes()? },
            2 => HashQuery::MGet { key: r.bytes()?, fields: r.list()? },
            3 => {
                let key = r.bytes()?;
                match r.u8()? {
                    bits @ 1..=3 => HashQuery::All { key, names: bits & 1 != 0, values: bits & 2 != 0 },
                    _ => return Err(DecodeError("a hash listing of nothing")),
                }
            }
            4 => HashQuery::Len { key: r.bytes()? },
            5 => HashQuery::Exists { key: r.bytes()?, field: r.bytes()? },
            6 => HashQuery::Strlen { key: r.bytes()?, field: r.bytes()? },
            7 => HashQuery::Scan {
                key: r.bytes()?,
                cursor: r.u64()?,
                count: r.u64()?,
                pattern: r.opt_bytes()?,
                values: bool(r)?,
            },
            _ => return Err(DecodeError("unknown hash query")),
        })
    }
}

/// Pairs: a u32 count, then name and value of each.
pub(super) fn put_pairs(b: &mut BytesMut, pairs: &[(Bytes, Bytes)]) {
    b.put_u32_le(pairs.len() as u32);
    for (k, v) in pairs {
        put_bytes(b, k);
        put_bytes(b, v);
    }
}

/// Reads [`put_pairs`]'s form; the count is checked against the bytes
/// present before anything is allocated.
pub(super) fn pairs(r: &mut Reader) -> Result<Vec<(Bytes, Bytes)>, DecodeError> {
    let n = r.u32()? as usize;
    // Each pair takes at least its two 4-byte lengths.
    if r.remaining() / 8 < n {
        return Err(DecodeError("pair count past end of buffer"));
    }
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        pairs.push((r.bytes()?, r.bytes()?));
    }
    Ok(pairs)
}

pub(super) fn bool(r: &mut Reader) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError("bad bool")),
    }
}
