//! A replicated key-value map: get / set / delete / incr / compare-and-set.
//!
//! A value is a byte string or, for the store's hash commands, a hash of
//! fields ([`Value`]); the commands here work on strings and answer
//! [`KvError::WrongType`] for a hash, as Redis does. `incr` treats a value
//! as a decimal `i64`, as Redis does, and a missing key as 0.

use super::codec::{DecodeError, Reader, put_bytes, put_list, put_opt_bytes};
use super::hashed::{self, Fields};
use super::versions::{Versions, hash};
use super::{Admitted, RestoreError, Service};
use crate::id::LogIndex;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt::Write as _;

/// Size limits; a command or query beyond them gets an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest key.
    pub max_key_bytes: usize,
    /// Longest value.
    pub max_value_bytes: usize,
    /// Most value bytes one query may answer with: a multi-key read past
    /// it is refused before its reply is built.
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_key_bytes: 64 << 10, max_value_bytes: 1 << 20, max_reply_bytes: 4 << 20 }
    }
}

impl Limits {
    /// Refuses a command beyond the size limits, as [`Kv::execute`] would;
    /// depends on nothing but the command, so a node (or its front end)
    /// can refuse it before it reaches the log.
    pub fn check(&self, cmd: &KvCommand) -> Result<(), KvError> {
        if cmd.key().len() > self.max_key_bytes {
            return Err(KvError::KeyTooLarge);
        }
        let value = match cmd {
            KvCommand::Set { value, .. } | KvCommand::Cas { new: Some(value), .. } => Some(value),
            _ => None,
        };
        if value.is_some_and(|v| v.len() > self.max_value_bytes) {
            return Err(KvError::ValueTooLarge);
        }
        Ok(())
    }
}

/// A command that changes the map; goes through the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvCommand {
    /// Set `key` to `value`. Reply: `Ok`.
    Set {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Remove `key`. Reply: `Bool(existed)`.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Add `by` to the integer at `key`. Reply: `Int(new value)`.
    Incr {
        /// The key.
        key: Bytes,
        /// The increment (may be negative).
        by: i64,
    },
    /// Set `key` to `new` (or delete it if `None`) only if its value is
    /// `expected` (`None`: absent). Reply: `Bool(swapped)`.
    Cas {
        /// The key.
        key: Bytes,
        /// The value it must have.
        expected: Option<Bytes>,
        /// The value to store; `None` deletes.
        new: Option<Bytes>,
    },
}

/// A read-only question, answered from applied state after a read barrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvQuery {
    /// The value at `key`. Reply: `Value`.
    Get {
        /// The key.
        key: Bytes,
    },
    /// Whether `key` exists. Reply: `Bool`.
    Exists {
        /// The key.
        key: Bytes,
    },
    /// Several values. Reply: `Values`.
    MGet {
        /// The keys.
        keys: Vec<Bytes>,
    },
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvReply {
    /// Done.
    Ok,
    /// A value, or none.
    Value(Option<Bytes>),
    /// Several values.
    Values(Vec<Option<Bytes>>),
    /// An integer.
    Int(i64),
    /// A yes or no.
    Bool(bool),
    /// The command was refused; nothing changed.
    Error(KvError),
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// `incr` on a value that is not a decimal integer.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// `incr` would overflow.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// The key exceeds the limit.
    #[error("key too large")]
    KeyTooLarge,
    /// The value exceeds the limit.
    #[error("value too large")]
    ValueTooLarge,
    /// The command or query could not be decoded.
    #[error("malformed request")]
    Malformed,
    /// The answer would pass the reply limit.
    #[error("reply too large")]
    ReplyTooLarge,
    /// A value or increment that is not a decimal floating-point number.
    #[error("value is not a valid float")]
    NotAFloat,
    /// A float increment whose result is not finite.
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
    /// A command that needs a key (a rename's source) found none.
    #[error("no such key")]
    NoSuchKey,
    /// An append or range write whose result would pass the value limit.
    #[error("string exceeds maximum allowed size")]
    StringTooLong,
    /// A string command on a hash, or a hash command on a string.
    #[error("operation against a key holding the wrong kind of value")]
    WrongType,
    /// A hash increment on a field that is not a decimal integer.
    #[error("hash value is not an integer")]
    FieldNotAnInteger,
    /// A hash float increment on a field that is not a float.
    #[error("hash value is not a float")]
    FieldNotAFloat,
}

impl KvError {
    fn code(self) -> u8 {
        match self {
            KvError::NotAnInteger => 1,
            KvError::Overflow => 2,
            KvError::KeyTooLarge => 3,
            KvError::ValueTooLarge => 4,
            KvError::Malformed => 5,
            KvError::ReplyTooLarge => 6,
            KvError::NotAFloat => 7,
            KvError::NotFinite => 8,
            KvError::NoSuchKey => 9,
            KvError::StringTooLong => 10,
            KvError::WrongType => 11,
            KvError::FieldNotAnInteger => 12,
            KvError::FieldNotAFloat => 13,
        }
    }

    fn from_code(c: u8) -> Option<KvError> {
        Some(match c {
            1 => KvError::NotAnInteger,
            2 => KvError::Overflow,
            3 => KvError::KeyTooLarge,
            4 => KvError::ValueTooLarge,
            5 => KvError::Malformed,
            6 => KvError::ReplyTooLarge,
            7 => KvError::NotAFloat,
            8 => KvError::NotFinite,
            9 => KvError::NoSuchKey,
            10 => KvError::StringTooLong,
            11 => KvError::WrongType,
            12 => KvError::FieldNotAnInteger,
            13 => KvError::FieldNotAFloat,
            _ => return None,
        })
    }
}

impl KvCommand {
    /// The key it writes.
    pub fn key(&self) -> &Bytes {
        match self {
            KvCommand::Set { key, .. }
            | KvCommand::Delete { key }
            | KvCommand::Incr { key, .. }
            | KvCommand::Cas { key, .. } => key,
        }
    }

    /// True if it can only delete (a delete, or a compare-and-delete).
    pub fn only_removes(&self) -> bool {
        matches!(self, KvCommand::Delete { .. } | KvCommand::Cas { new: None, .. })
    }

    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            KvCommand::Set { key, value } => {
                b.put_u8(1);
                put_bytes(&mut b, key);
                put_bytes(&mut b, value);
            }
            KvCommand::Delete { key } => {
                b.put_u8(2);
                put_bytes(&mut b, key);
            }
            KvCommand::Incr { key, by } => {
                b.put_u8(3);
                put_bytes(&mut b, key);
                b.put_i64_le(*by);
            }
            KvCommand::Cas { key, expected, new } => {
                b.put_u8(4);
                put_bytes(&mut b, key);
                put_opt_bytes(&mut b, expected.as_deref());
                put_opt_bytes(&mut b, new.as_deref());
            }
        }
        b.freeze()
    }

    /// Parses the wire form; slices share `buf`.
    pub fn decode(buf: Bytes) -> Result<KvCommand, DecodeError> {
        let mut r = Reader::new(buf);
        let cmd = match r.u8()? {
            1 => KvCommand::Set { key: r.bytes()?, value: r.bytes()? },
            2 => KvCommand::Delete { key: r.bytes()? },
            3 => KvCommand::Incr { key: r.bytes()?, by: r.i64()? },
            4 => KvCommand::Cas { key: r.bytes()?, expected: r.opt_bytes()?, new: r.opt_bytes()? },
            _ => return Err(DecodeError("unknown kv command")),
        };
        r.finish()?;
        Ok(cmd)
    }
}

impl KvQuery {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            KvQuery::Get { key } => {
                b.put_u8(1);
                put_bytes(&mut b, key);
            }
            KvQuery::Exists { key } => {
                b.put_u8(2);
                put_bytes(&mut b, key);
            }
            KvQuery::MGet { keys } => {
                b.put_u8(3);
                put_list(&mut b, keys);
            }
        }
        b.freeze()
    }

    /// Parses the wire form.
    pub fn decode(buf: Bytes) -> Result<KvQuery, DecodeError> {
        let mut r = Reader::new(buf);
        let q = match r.u8()? {
            1 => KvQuery::Get { key: r.bytes()? },
            2 => KvQuery::Exists { key: r.bytes()? },
            3 => KvQuery::MGet { keys: r.list()? },
            _ => return Err(DecodeError("unknown kv query")),
        };
        r.finish()?;
        Ok(q)
    }
}

impl KvReply {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        self.put(&mut b);
        b.freeze()
    }

    /// The length of the wire form: a read's reply is written into a
    /// buffer of its final size, not grown value by value (it is on the
    /// path of every GET).
    pub(crate) fn encoded_len(&self) -> usize {
        // Tag, presence byte, u32 length.
        let opt = |v: &Option<Bytes>| v.as_ref().map_or(1, |v| 5usize.saturating_add(v.len()));
        match self {
            KvReply::Value(v) => 1 + opt(v),
            KvReply::Values(vs) => vs.iter().fold(5usize, |n, v| n.saturating_add(opt(v))),
            KvReply::Int(_) => 9,
            KvReply::Ok => 1,
            KvReply::Bool(_) | KvReply::Error(_) => 2,
        }
    }

    /// Appends the wire form.
    pub(crate) fn put(&self, b: &mut BytesMut) {
        match self {
            KvReply::Ok => b.put_u8(0),
            KvReply::Value(v) => {
                b.put_u8(1);
                put_opt_bytes(b, v.as_deref());
            }
            KvReply::Values(vs) => {
                b.put_u8(2);
                b.put_u32_le(vs.len() as u32);
                for v in vs {
                    put_opt_bytes(b, v.as_deref());
                }
            }
            KvReply::Int(i) => {
                b.put_u8(3);
                b.put_i64_le(*i);
            }
            KvReply::Bool(x) => {
                b.put_u8(4);
                b.put_u8(u8::from(*x));
            }
            KvReply::Error(e) => {
                b.put_u8(5);
                b.put_u8(e.code());
            }
        }
    }

    /// Parses the wire form.
    pub fn decode(buf: Bytes) -> Result<KvReply, DecodeError> {
        let mut r = Reader::new(buf);
        let reply = match r.u8()? {
            0 => KvReply::Ok,
            1 => KvReply::Value(r.opt_bytes()?),
            2 => {
                let n = r.u32()? as usize;
                if r.remaining() < n {
                    return Err(DecodeError("value count past end of buffer"));
                }
                let mut vs = Vec::with_capacity(n);
                for _ in 0..n {
                    vs.push(r.opt_bytes()?);
                }
                KvReply::Values(vs)
            }
            3 => KvReply::Int(r.i64()?),
            4 => KvReply::Bool(match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError("bad bool")),
            }),
            5 => KvReply::Error(KvError::from_code(r.u8()?).ok_or(DecodeError("unknown kv error"))?),
            _ => return Err(DecodeError("unknown kv reply")),
        };
        r.finish()?;
        Ok(reply)
    }
}

/// What a key holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A byte string.
    Str(Bytes),
    /// A hash: at least one field (a hash left without fields is removed).
    Hash(Fields),
}

impl Value {
    /// Redis's name for its type, as `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
        }
    }
}

/// The key-value service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    map: BTreeMap<Bytes, Value>,
    applied: LogIndex,
    limits: Limits,
    versions: Versions,
    /// The keys in hash order, for `SCAN`'s cursor (derived, not in the
    /// snapshot).
    by_hash: BTreeSet<(u64, Bytes)>,
}

pub use hashed::MAX_SCAN_RUN;

/// Version 3 adds hash values (each value is tagged with its type);
/// version 2 adds key versions; version 1 restores with every key at
/// version 0 and no removal remembered.
const SNAPSHOT_VERSION: u8 = 3;

impl Kv {
    /// An empty map with the given limits.
    pub fn new(limits: Limits) -> Kv {
        Kv {
            map: BTreeMap::new(),
            applied: LogIndex(0),
            limits,
            versions: Versions::default(),
            by_hash: BTreeSet::new(),
        }
    }

    /// `SCAN`: from `cursor`, the keys `wanted` accepts among the next
    /// `count` or so, in the order of a fixed 64-bit hash of each key, and
    /// the cursor to go on from (0 when done), with [`hashed::scan`]'s
    /// guarantee: a key present for a whole iteration is returned,
    /// whatever is written meanwhile, from any replica.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        max_bytes: usize,
        wanted: impl Fn(&[u8], &Value) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let keys = self.by_hash.range((cursor, Bytes::new())..).map(|(h, k)| (*h, k));
        let take = |k: &&Bytes| self.map.get(*k).filter(|v| wanted(k, v)).map(|_| k.len());
        let (next, keys) = hashed::scan(keys, count, max_bytes, take);
        (next, keys.into_iter().cloned().collect())
    }

    /// Every key `wanted` accepts, in key order; `None` if their bytes
    /// pass `max_bytes`.
    pub fn keys(&self, max_bytes: usize, wanted: impl Fn(&[u8]) -> bool) -> Option<Vec<Bytes>> {
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for key in self.map.keys().filter(|k| wanted(k)) {
            bytes = bytes.saturating_add(key.len());
            if bytes > max_bytes {
                return None;
            }
            out.push(key.clone());
        }
        Some(out)
    }

    /// The version of `key` (see [`super::versions`]).
    pub fn version(&self, key: &[u8]) -> u64 {
        self.versions.version(key, self.map.contains_key(key))
    }

    /// Changes from now on are stamped `stamp`: the applying entry's
    /// index, or 0 (unversioned).
    pub(crate) fn set_stamp(&mut self, stamp: u64) {
        self.versions.set_stamp(stamp);
    }

    /// `key`'s TTL changed: a change of the key to its watchers.
    pub(crate) fn touch(&mut self, key: &[u8]) {
        if let Some((k, _)) = self.map.get_key_value(key) {
            let k = k.clone();
            self.versions.changed(&k);
        }
    }

    /// The string at `key`: `None` if it is absent or holds a hash.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        match self.map.get(key)? {
            Value::Str(s) => Some(s),
            Value::Hash(_) => None,
        }
    }

    /// The string at `key`, for a command that reads one: a hash there is
    /// [`KvError::WrongType`].
    pub fn string(&self, key: &[u8]) -> Result<Option<&Bytes>, KvError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(Value::Hash(_)) => Err(KvError::WrongType),
        }
    }

    /// The fields of the hash at `key`: a string there is
    /// [`KvError::WrongType`].
    pub fn fields(&self, key: &[u8]) -> Result<Option<&Fields>, KvError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Hash(h)) => Ok(Some(h)),
            Some(Value::Str(_)) => Err(KvError::WrongType),
        }
    }

    /// What `key` holds, of any type.
    pub fn value(&self, key: &[u8]) -> Option<&Value> {
        self.map.get(key)
    }

    /// True if `key` exists, of any type.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Executes a decoded command.
    pub fn execute(&mut self, cmd: KvCommand) -> KvReply {
        if let Err(e) = self.limits.check(&cmd) {
            return KvReply::Error(e);
        }
        match cmd {
            KvCommand::Set { key, value } => {
                self.insert(&key, &value);
                KvReply::Ok
            }
            KvCommand::Delete { key } => KvReply::Bool(self.remove(&key).is_some()),
            KvCommand::Incr { key, by } => {
                let current = match self.string(&key) {
                    Err(e) => return KvReply::Error(e),
                    Ok(None) => 0,
                    Ok(Some(v)) => match parse_i64(v) {
                        Some(n) => n,
                        None => return KvReply::Error(KvError::NotAnInteger),
                    },
                };
                let Some(next) = current.checked_add(by) else { return KvReply::Error(KvError::Overflow) };
                let mut s = alloc::string::String::new();
                let _ = write!(s, "{next}");
                self.insert(&key, s.as_bytes());
                KvReply::Int(next)
            }
            KvCommand::Cas { key, expected, new } => {
                match self.string(&key) {
                    Err(e) => return KvReply::Error(e),
                    Ok(v) if v.map(|v| &v[..]) != expected.as_deref() => return KvReply::Bool(false),
                    Ok(_) => {}
                }
                match new {
                    Some(v) => self.insert(&key, &v),
                    None => {
                        self.remove(&key);
                    }
                }
                KvReply::Bool(true)
            }
        }
    }

    /// Answers a decoded query.
    pub fn answer(&self, q: &KvQuery) -> KvReply {
        match q {
            KvQuery::Get { key } => match self.string(key) {
                Ok(v) => KvReply::Value(v.cloned()),
                Err(e) => KvReply::Error(e),
            },
            KvQuery::Exists { key } => KvReply::Bool(self.map.contains_key(&key[..])),
            KvQuery::MGet { keys } => {
                // Counted before anything is gathered: the reply is bounded
                // however often a large key is named.
                let mut bytes = 0usize;
                // A key holding a hash reads as absent, as in Redis.
                for k in keys {
                    bytes = bytes.saturating_add(self.get(k).map_or(0, Bytes::len));
                    if bytes > self.limits.max_reply_bytes {
                        return KvReply::Error(KvError::ReplyTooLarge);
                    }
                }
                KvReply::Values(keys.iter().map(|k| self.get(k).cloned()).collect())
            }
        }
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) {
        // Copy: a slice would pin the whole received frame in memory.
        self.put_value(key, Value::Str(Bytes::copy_from_slice(value)));
    }

    /// Sets `key` to `value` of any type, replacing what it held.
    pub(crate) fn put_value(&mut self, key: &[u8], value: Value) {
        let key = Bytes::copy_from_slice(key);
        self.versions.changed(&key);
        if self.map.insert(key.clone(), value).is_none() {
            self.by_hash.insert((hash(&key), key));
        }
    }

    /// Runs `f` on the hash at `key` (an empty one if absent), which
    /// answers its result and whether it changed anything; a hash left
    /// without fields is removed. A string there is
    /// [`KvError::WrongType`], and `f` does not run.
    pub(crate) fn update_fields<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut Fields) -> (R, bool),
    ) -> Result<R, KvError> {
        let Some(value) = self.map.get_mut(key) else {
            let mut fields = Fields::default();
            let (r, _) = f(&mut fields);
            if !fields.is_empty() {
                self.put_value(key, Value::Hash(fields));
            }
            return Ok(r);
        };
        let Value::Hash(fields) = value else { return Err(KvError::WrongType) };
        let (r, changed) = f(fields);
        if fields.is_empty() {
            self.remove(key);
        } else if changed {
            self.touch(key);
        }
        Ok(r)
    }

    /// Sets `key` to `value`, which the caller checked against the limits;
    /// for the store's own commands, which decide what a write does to TTLs.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) {
        self.insert(key, value);
    }

    /// Removes every key; returns how many there were. Every key, present
    /// or not, counts as changed to its watchers.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        self.by_hash.clear();
        self.versions.flushed();
        n
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let (k, old) = self.map.remove_entry(key)?;
        self.by_hash.remove(&(hash(&k), k));
        self.versions.removed(key);
        Some(old)
    }
}

fn parse_i64(v: &[u8]) -> Option<i64> {
    core::str::from_utf8(v).ok()?.parse().ok()
}

impl Service for Kv {
    fn apply(&mut self, index: LogIndex, command: &Bytes) -> Bytes {
        self.applied = self.applied.max(index);
        self.set_stamp(index.0);
        let reply = match KvCommand::decode(command.clone()) {
            Ok(cmd) => self.execute(cmd).encode(),
            Err(_) => KvReply::Error(KvError::Malformed).encode(),
        };
        self.set_stamp(0);
        reply
    }

    fn query(&self, query: &Bytes) -> Bytes {
        match KvQuery::decode(query.clone()) {
            Ok(q) => self.answer(&q).encode(),
            Err(_) => KvReply::Error(KvError::Malformed).encode(),
        }
    }

    fn check(&self, command: &Bytes) -> Result<Admitted, Bytes> {
        let refuse = |e| KvReply::Error(e).encode();
        let cmd = KvCommand::decode(command.clone()).map_err(|_| refuse(KvError::Malformed))?;
        self.limits.check(&cmd).map_err(refuse)?;
        Ok(Admitted::new(!cmd.only_removes()))
    }

    fn snapshot(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(SNAPSHOT_VERSION);
        b.put_u64_le(self.applied.0);
        b.put_u64_le(self.map.len() as u64);
        for (k, v) in &self.map {
            put_bytes(&mut b, k);
            match v {
                Value::Str(s) => {
                    b.put_u8(0);
                    put_bytes(&mut b, s);
                }
                Value::Hash(fields) => {
                    b.put_u8(1);
                    fields.encode(&mut b);
                }
            }
        }
        self.versions.encode(&mut b);
        b.freeze()
    }

    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError> {
        let mut r = Reader::new(snapshot.clone());
        let version = r.u8().map_err(|e| RestoreError::Malformed(e.0))?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return Err(RestoreError::UnsupportedVersion(version));
        }
        type Parts = (LogIndex, BTreeMap<Bytes, Value>, Versions);
        let parse = |r: &mut Reader| -> Result<Parts, DecodeError> {
            let applied = LogIndex(r.u64()?);
            let n = r.u64()?;
            let mut map = BTreeMap::new();
            for _ in 0..n {
                let k = Bytes::copy_from_slice(&r.bytes()?);
                // Before version 3 every value is a string.
                let v = match if version < 3 { 0 } else { r.u8()? } {
                    0 => Value::Str(Bytes::copy_from_slice(&r.bytes()?)),
                    1 => Value::Hash(Fields::decode(r)?),
                    _ => return Err(DecodeError("unknown value type")),
                };
                map.insert(k, v);
            }
            let versions = match version {
                1 => Versions::default(),
                _ => Versions::decode(r, |k| map.get_key_value(k).map(|(k, _)| k.clone()))?,
            };
            Ok((applied, map, versions))
        };
        let (applied, map, versions) = parse(&mut r).map_err(|e| RestoreError::Malformed(e.0))?;
        r.finish().map_err(|e| RestoreError::Malformed(e.0))?;
        self.applied = applied;
        self.by_hash = map.keys().map(|k| (hash(k), k.clone())).collect();
        self.map = map;
        self.versions = versions;
        Ok(())
    }

    fn applied(&self) -> LogIndex {
        self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn run(kv: &mut Kv, i: u64, c: KvCommand) -> KvReply {
        KvReply::decode(kv.apply(LogIndex(i), &c.encode())).unwrap()
    }

    #[test]
    fn commands_behave_like_redis() {
        let mut kv = Kv::default();
        assert_eq!(run(&mut kv, 1, KvCommand::Incr { key: b("n"), by: 5 }), KvReply::Int(5));
        assert_eq!(run(&mut kv, 2, KvCommand::Incr { key: b("n"), by: -7 }), KvReply::Int(-2));
        assert_eq!(kv.get(b"n"), Some(&b("-2")));
        run(&mut kv, 3, KvCommand::Set { key: b("s"), value: b("x") });
        assert_eq!(run(&mut kv, 4, KvCommand::Incr { key: b("s"), by: 1 }), KvReply::Error(KvError::NotAnInteger));
        run(&mut kv, 5, KvCommand::Set { key: b("m"), value: b("9223372036854775807") });
        assert_eq!(run(&mut kv, 6, KvCommand::Incr { key: b("m"), by: 1 }), KvReply::Error(KvError::Overflow));
        assert_eq!(run(&mut kv, 7, KvCommand::Delete { key: b("s") }), KvReply::Bool(true));
        assert_eq!(run(&mut kv, 8, KvCommand::Delete { key: b("s") }), KvReply::Bool(false));
        assert_eq!(kv.applied(), LogIndex(8));
    }

    #[test]
    fn compare_and_set_swaps_only_on_match() {
        let mut kv = Kv::new(Limits::default());
        let cas = |e: Option<&str>, n: Option<&str>| KvCommand::Cas { key: b("k"), expected: e.map(b), new: n.map(b) };
        assert_eq!(run(&mut kv, 1, cas(Some("a"), Some("b"))), KvReply::Bool(false));
        assert_eq!(run(&mut kv, 2, cas(None, Some("a"))), KvReply::Bool(true));
        assert_eq!(run(&mut kv, 3, cas(None, Some("z"))), KvReply::Bool(false));
        assert_eq!(run(&mut kv, 4, cas(Some("a"), Some("b"))), KvReply::Bool(true));
        assert_eq!(kv.answer(&KvQuery::Get { key: b("k") }), KvReply::Value(Some(b("b"))));
        assert_eq!(run(&mut kv, 5, cas(Some("b"), None)), KvReply::Bool(true));
        assert_eq!(kv.answer(&KvQuery::Exists { key: b("k") }), KvReply::Bool(false));
    }

    #[test]
    fn limits_and_garbage_give_error_replies_and_change_nothing() {
        let mut kv = Kv::new(Limits { max_key_bytes: 3, max_value_bytes: 4, ..Limits::default() });
        assert_eq!(
            run(&mut kv, 1, KvCommand::Set { key: b("long"), value: b("v") }),
            KvReply::Error(KvError::KeyTooLarge)
        );
        assert_eq!(
            run(&mut kv, 2, KvCommand::Set { key: b("k"), value: b("vvvvv") }),
            KvReply::Error(KvError::ValueTooLarge)
        );
        let garbage = kv.apply(LogIndex(3), &Bytes::from_static(&[9, 9, 9]));
        assert_eq!(KvReply::decode(garbage).unwrap(), KvReply::Error(KvError::Malformed));
        assert!(kv.is_empty());
        assert_eq!(
            KvReply::decode(kv.query(&Bytes::from_static(&[3, 255, 255, 255, 255]))).unwrap(),
            KvReply::Error(KvError::Malformed)
        );
    }

    #[test]
    fn mget_answers_in_key_order() {
        let mut kv = Kv::new(Limits::default());
        run(&mut kv, 1, KvCommand::Set { key: b("a"), value: b("1") });
        let q = KvQuery::MGet { keys: vec![b("a"), b("b")] };
        let q = KvQuery::decode(q.encode()).unwrap();
        assert_eq!(kv.answer(&q), KvReply::Values(vec![Some(b("1")), None]));
    }

    #[test]
    fn a_corrupt_snapshot_leaves_the_state_alone() {
        let mut kv = Kv::new(Limits::default());
        run(&mut kv, 1, KvCommand::Set { key: b("a"), value: b("1") });
        let snap = kv.snapshot();
        let mut other = Kv::new(Limits::default());
        run(&mut other, 1, KvCommand::Set { key: b("z"), value: b("0") });
        for cut in 0..snap.len() {
            assert!(other.restore(&snap.slice(..cut)).is_err());
        }
        assert_eq!(other.get(b"z"), Some(&b("0")));
        let mut v2 = snap.to_vec();
        v2[0] = SNAPSHOT_VERSION + 1;
        assert_eq!(other.restore(&Bytes::from(v2)), Err(RestoreError::UnsupportedVersion(SNAPSHOT_VERSION + 1)));
    }

    fn arb_cmd() -> impl Strategy<Value = KvCommand> {
        let key = prop_oneof![Just(b("a")), Just(b("b")), Just(b("c"))];
        let val = prop_oneof![Just(b("1")), Just(b("x")), Just(b("-3"))];
        prop_oneof![
            (key.clone(), val.clone()).prop_map(|(key, value)| KvCommand::Set { key, value }),
            key.clone().prop_map(|key| KvCommand::Delete { key }),
            (key.clone(), -5i64..5).prop_map(|(key, by)| KvCommand::Incr { key, by }),
            (key, proptest::option::of(val.clone()), proptest::option::of(val))
                .prop_map(|(key, expected, new)| KvCommand::Cas { key, expected, new }),
        ]
    }

    proptest! {
        /// Snapshot, restore: the same state; and a replica restored from a
        /// snapshot mid-way agrees with one that replayed everything.
        #[test]
        fn snapshot_restore_is_the_same_state(cmds in proptest::collection::vec(arb_cmd(), 0..50), cut in 0usize..50) {
            let mut full = Kv::new(Limits::default());
            let mut part = Kv::new(Limits::default());
            for (i, c) in cmds.iter().enumerate() {
                let i = LogIndex(i as u64 + 1);
                prop_assert_eq!(KvCommand::decode(c.encode()).unwrap(), c.clone());
                full.apply(i, &c.encode());
                if i.0 as usize <= cut {
                    part.apply(i, &c.encode());
                }
            }
            let mut restored = Kv::new(Limits::default());
            restored.restore(&part.snapshot()).unwrap();
            prop_assert_eq!(&restored, &part);
            for (i, c) in cmds.iter().enumerate().skip(cut) {
                restored.apply(LogIndex(i as u64 + 1), &c.encode());
            }
            prop_assert_eq!(restored.snapshot(), full.snapshot());
        }

        #[test]
        fn replies_round_trip(r in prop_oneof![
            Just(KvReply::Ok),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)).prop_map(KvReply::Value),
            any::<i64>().prop_map(KvReply::Int),
            any::<bool>().prop_map(KvReply::Bool),
            Just(KvReply::Error(KvError::Overflow)),
            proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)), 0..4).prop_map(KvReply::Values),
        ]) {
            let wire = r.encode();
            // The buffer is sized from `encoded_len`: exact, not a guess.
            prop_assert_eq!(wire.len(), r.encoded_len());
            // Nested in a service reply, length-prefixed as `put_bytes` would.
            let mut nested = BytesMut::new();
            crate::service::codec::put_bytes(&mut nested, &wire);
            let outer = crate::service::Reply::Kv(r.clone()).encode();
            prop_assert_eq!(&outer[2..], &nested[..]);
            prop_assert_eq!(crate::service::Reply::decode(outer).unwrap(), crate::service::Reply::Kv(r.clone()));
            prop_assert_eq!(KvReply::decode(wire).unwrap(), r);
        }
    }
}
