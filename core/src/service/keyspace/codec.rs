//! The binary encodings of [`KeyCommand`] and [`KeyQuery`]: a tag, then
//! fields; lists carry a count checked against the bytes present before
//! anything is allocated.

use super::hash::{HashCommand, HashQuery, bool, pairs, put_pairs};
use super::{ExpireIf, KeyCommand, KeyQuery, Presence, TtlChange};
use crate::service::codec::{DecodeError, Reader, put_bytes, put_list, put_opt_bytes};
use crate::time::{Duration, duration_nanos};
use bytes::{BufMut, Bytes, BytesMut};

impl KeyCommand {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            KeyCommand::Set { key, value, only, get, ttl } => {
                b.put_u8(1);
                put_bytes(&mut b, key);
                put_bytes(&mut b, value);
                b.put_u8(match only {
                    Presence::Any => 0,
                    Presence::Absent => 1,
                    Presence::Present => 2,
                });
                b.put_u8(u8::from(*get));
                put_ttl(&mut b, *ttl);
            }
            KeyCommand::MSet { pairs, if_none } => {
                b.put_u8(2);
                b.put_u8(u8::from(*if_none));
                put_pairs(&mut b, pairs);
            }
            KeyCommand::Append { key, value } => {
                b.put_u8(3);
                put_bytes(&mut b, key);
                put_bytes(&mut b, value);
            }
            KeyCommand::SetRange { key, offset, value } => {
                b.put_u8(4);
                put_bytes(&mut b, key);
                b.put_u64_le(*offset);
                put_bytes(&mut b, value);
            }
            KeyCommand::IncrBy { key, by } => {
                b.put_u8(5);
                put_bytes(&mut b, key);
                b.put_i64_le(*by);
            }
            KeyCommand::IncrByFloat { key, by } => {
                b.put_u8(6);
                put_bytes(&mut b, key);
                put_bytes(&mut b, by);
            }
            KeyCommand::GetDel { key } => {
                b.put_u8(7);
                put_bytes(&mut b, key);
            }
            KeyCommand::GetEx { key, ttl } => {
                b.put_u8(8);
                put_bytes(&mut b, key);
                put_ttl(&mut b, *ttl);
            }
            KeyCommand::Expire { key, ttl, only } => {
                b.put_u8(9);
                put_bytes(&mut b, key);
                put_ttl(&mut b, ttl.map_or(TtlChange::Past, TtlChange::Expire));
                b.put_u8(u8::from(only.nx) | u8::from(only.xx) << 1 | u8::from(only.gt) << 2 | u8::from(only.lt) << 3);
            }
            KeyCommand::Persist { key } => {
                b.put_u8(10);
                put_bytes(&mut b, key);
            }
            KeyCommand::Delete { keys } => {
                b.put_u8(11);
                put_list(&mut b, keys);
            }
            KeyCommand::Rename { from, to, if_absent } => {
                b.put_u8(12);
                put_bytes(&mut b, from);
                put_bytes(&mut b, to);
                b.put_u8(u8::from(*if_absent));
            }
            KeyCommand::Flush => b.put_u8(13),
            KeyCommand::Hash(h) => {
                b.put_u8(14);
                h.encode(&mut b);
            }
        }
        b.freeze()
    }

    /// Parses the wire form; slices share `buf`.
    pub fn decode(buf: Bytes) -> Result<KeyCommand, DecodeError> {
        let mut r = Reader::new(buf);
        let cmd = match r.u8()? {
            1 => {
                let (key, value) = (r.bytes()?, r.bytes()?);
                let only = match r.u8()? {
                    0 => Presence::Any,
                    1 => Presence::Absent,
                    2 => Presence::Present,
                    _ => return Err(DecodeError("bad presence")),
                };
                KeyCommand::Set { key, value, only, get: bool(&mut r)?, ttl: ttl(&mut r)? }
            }
            2 => KeyCommand::MSet { if_none: bool(&mut r)?, pairs: pairs(&mut r)? },
            3 => KeyCommand::Append { key: r.bytes()?, value: r.bytes()? },
            4 => KeyCommand::SetRange { key: r.bytes()?, offset: r.u64()?, value: r.bytes()? },
            5 => KeyCommand::IncrBy { key: r.bytes()?, by: r.i64()? },
            6 => KeyCommand::IncrByFloat { key: r.bytes()?, by: r.bytes()? },
            7 => KeyCommand::GetDel { key: r.bytes()? },
            8 => KeyCommand::GetEx { key: r.bytes()?, ttl: ttl(&mut r)? },
            9 => {
                let key = r.bytes()?;
                let ttl = match ttl(&mut r)? {
                    TtlChange::Expire(d) => Some(d),
                    TtlChange::Past => None,
                    _ => return Err(DecodeError("expire without a time")),
                };
                let bits = r.u8()?;
                if bits >> 4 != 0 {
                    return Err(DecodeError("unknown expire condition"));
                }
                let only = ExpireIf { nx: bits & 1 != 0, xx: bits & 2 != 0, gt: bits & 4 != 0, lt: bits & 8 != 0 };
                KeyCommand::Expire { key, ttl, only }
            }
            10 => KeyCommand::Persist { key: r.bytes()? },
            11 => KeyCommand::Delete { keys: r.list()? },
            12 => KeyCommand::Rename { from: r.bytes()?, to: r.bytes()?, if_absent: bool(&mut r)? },
            13 => KeyCommand::Flush,
            14 => KeyCommand::Hash(HashCommand::decode(&mut r)?),
            _ => return Err(DecodeError("unknown key command")),
        };
        r.finish()?;
        Ok(cmd)
    }
}

impl KeyQuery {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            KeyQuery::Strlen { key } => {
                b.put_u8(1);
                put_bytes(&mut b, key);
            }
            KeyQuery::GetRange { key, start, end } => {
                b.put_u8(2);
                put_bytes(&mut b, key);
                b.put_i64_le(*start);
                b.put_i64_le(*end);
            }
            KeyQuery::Ttl { key } => {
                b.put_u8(3);
                put_bytes(&mut b, key);
            }
            KeyQuery::Type { key } => {
                b.put_u8(4);
                put_bytes(&mut b, key);
            }
            KeyQuery::Count { keys } => {
                b.put_u8(5);
                put_list(&mut b, keys);
            }
            KeyQuery::DbSize => b.put_u8(6),
            KeyQuery::Keys { pattern } => {
                b.put_u8(7);
                put_bytes(&mut b, pattern);
            }
            KeyQuery::Scan { cursor, count, pattern, kind } => {
                b.put_u8(8);
                b.put_u64_le(*cursor);
                b.put_u64_le(*count);
                put_opt_bytes(&mut b, pattern.as_deref());
                // Last and optional: a scan without it has the older form.
                if let Some(kind) = kind {
                    put_bytes(&mut b, kind);
                }
            }
            KeyQuery::Hash(h) => {
                b.put_u8(9);
                h.encode(&mut b);
            }
        }
        b.freeze()
    }

    /// Parses the wire form; slices share `buf`.
    pub fn decode(buf: Bytes) -> Result<KeyQuery, DecodeError> {
        let mut r = Reader::new(buf);
        let q = match r.u8()? {
            1 => KeyQuery::Strlen { key: r.bytes()? },
            2 => KeyQuery::GetRange { key: r.bytes()?, start: r.i64()?, end: r.i64()? },
            3 => KeyQuery::Ttl { key: r.bytes()? },
            4 => KeyQuery::Type { key: r.bytes()? },
            5 => KeyQuery::Count { keys: r.list()? },
            6 => KeyQuery::DbSize,
            7 => KeyQuery::Keys { pattern: r.bytes()? },
            8 => {
                let (cursor, count, pattern) = (r.u64()?, r.u64()?, r.opt_bytes()?);
                let kind = if r.remaining() > 0 { Some(r.bytes()?) } else { None };
                KeyQuery::Scan { cursor, count, pattern, kind }
            }
            9 => KeyQuery::Hash(HashQuery::decode(&mut r)?),
            _ => return Err(DecodeError("unknown key query")),
        };
        r.finish()?;
        Ok(q)
    }
}

fn put_ttl(b: &mut BytesMut, ttl: TtlChange) {
    match ttl {
        TtlChange::Clear => b.put_u8(0),
        TtlChange::Keep => b.put_u8(1),
        TtlChange::Expire(d) => {
            b.put_u8(2);
            b.put_u64_le(duration_nanos(d));
        }
        TtlChange::Past => b.put_u8(3),
    }
}

fn ttl(r: &mut Reader) -> Result<TtlChange, DecodeError> {
    Ok(match r.u8()? {
        0 => TtlChange::Clear,
        1 => TtlChange::Keep,
        2 => TtlChange::Expire(Duration::from_nanos(r.u64()?)),
        3 => TtlChange::Past,
        _ => return Err(DecodeError("bad ttl change")),
    })
}
