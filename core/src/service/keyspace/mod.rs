//! Redis's string and key commands, each one log entry applied atomically
//! by the [`Store`](super::Store): a multi-key command (`MSET`, `DEL`,
//! `RENAME`) is never seen half done, on any replica, across crashes too.
//!
//! **TTLs are leases.** A key's TTL is a lease granted for that key alone
//! ([`Leases::grant_for_key`](super::Leases::grant_for_key)) in the same
//! entry as the write that sets it, so it expires inside the log on every
//! replica alike ([`super::clock`]): like any lease, its clock starts at
//! the next tick and a new leader's grace can lengthen it, never shorten
//! it. Such a lease is its key's alone: lease and lock commands refuse it,
//! and the store revokes it once its key lets go of it, so replacing a TTL
//! leaves nothing behind. A key may also hang on a lease granted by
//! `LEASE GRANT`; its TTL is then that lease's, and the commands here treat
//! it as the key's TTL (`PERSIST` detaches the key, `RENAME` moves it).
//!
//! **Time.** The store knows only log time, which is durations measured
//! by leaders; it has no wall clock. Commands carry TTLs as durations; a
//! front end turns Redis's absolute times (`EXAT`, `PXAT`, `EXPIREAT`) into
//! durations with its node's wall clock before proposing, and answers
//! `EXPIRETIME` from a TTL the same way.
//!
//! Replies are [`KvReply`](super::kv::KvReply)s inside
//! [`Reply::Kv`](super::Reply::Kv); each variant says which.

mod apply;
mod codec;
pub mod hash;
mod hash_apply;
pub mod pattern;
mod value;

use super::kv::{KvError, Limits};
use crate::time::Duration;
use alloc::vec::Vec;
use bytes::Bytes;

pub use value::{MAX_FLOAT_CHARS, parse_float, parse_integer};

/// The longest TTL a key may be given: about 146 years, far past any
/// client's need, and small enough that log time plus it never saturates.
pub const MAX_KEY_TTL: Duration = Duration::from_secs(146 * 365 * 24 * 3600);

/// When a conditional write goes ahead, by whether its key exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Whatever the key's state.
    Any,
    /// Only if the key is absent (`NX`).
    Absent,
    /// Only if the key exists (`XX`).
    Present,
}

/// What a write does to its key's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlChange {
    /// Removes it: the key lives until deleted (a plain `SET`, `PERSIST`).
    Clear,
    /// Leaves it as it was (`KEEPTTL`, `APPEND`, `INCR`).
    Keep,
    /// A fresh TTL of this duration, counted from the next tick.
    Expire(Duration),
    /// A TTL already past (an `EXAT` before now): the key is deleted in
    /// the same entry, as Redis expires it at once.
    Past,
}

/// Which of `EXPIRE`'s `NX`, `XX`, `GT`, `LT` apply; `XX` may go with `GT`
/// or `LT`, the rest are exclusive (the front end checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireIf {
    /// Only if the key has no TTL.
    pub nx: bool,
    /// Only if the key has a TTL.
    pub xx: bool,
    /// Only if the new TTL ends later than the current one (none counts as
    /// never ending).
    pub gt: bool,
    /// Only if the new TTL ends sooner than the current one (none counts
    /// as never ending).
    pub lt: bool,
}

/// A string or key command; goes through the log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyCommand {
    /// `SET` and its variants. Reply: `Value(old)` if `get`, else
    /// `Bool(written)`.
    Set {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// When to write.
        only: Presence,
        /// Answer the old value.
        get: bool,
        /// What a write does to the TTL.
        ttl: TtlChange,
    },
    /// `MSET` (or `MSETNX` with `if_none`: nothing is written if any key
    /// exists). Every written key loses its TTL. Reply: `Bool(written)`.
    MSet {
        /// Key-value pairs, applied in order.
        pairs: Vec<(Bytes, Bytes)>,
        /// Write only if no key exists.
        if_none: bool,
    },
    /// Appends to the value (a missing key is empty). Reply: `Int(length)`.
    Append {
        /// The key.
        key: Bytes,
        /// What to append.
        value: Bytes,
    },
    /// Overwrites from `offset`, padding with zero bytes. Reply:
    /// `Int(length)`.
    SetRange {
        /// The key.
        key: Bytes,
        /// Where to start.
        offset: u64,
        /// What to write.
        value: Bytes,
    },
    /// Adds `by` to a decimal integer, keeping the TTL. Reply: `Int(new)`.
    IncrBy {
        /// The key.
        key: Bytes,
        /// The increment.
        by: i64,
    },
    /// Adds a decimal float, keeping the TTL. Reply: `Value(new text)`.
    IncrByFloat {
        /// The key.
        key: Bytes,
        /// The increment as the client wrote it; parsed on apply, so every
        /// replica computes from the same text.
        by: Bytes,
    },
    /// Deletes the key. Reply: `Value(old)`.
    GetDel {
        /// The key.
        key: Bytes,
    },
    /// Reads the value and changes its TTL. Reply: `Value(value)`.
    GetEx {
        /// The key.
        key: Bytes,
        /// The TTL change, if the key exists.
        ttl: TtlChange,
    },
    /// Gives an existing key a TTL (`None`: one already past, which
    /// deletes it). Reply: `Bool(set)`.
    Expire {
        /// The key.
        key: Bytes,
        /// The TTL.
        ttl: Option<Duration>,
        /// The conditions.
        only: ExpireIf,
    },
    /// Removes the key's TTL. Reply: `Bool(had one)`.
    Persist {
        /// The key.
        key: Bytes,
    },
    /// Deletes keys (`DEL`, `UNLINK`). Reply: `Int(deleted)`.
    Delete {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// Renames a key, its TTL going with it, replacing `to` (or, with
    /// `if_absent`, only if `to` is absent). Reply: `Bool(renamed)`;
    /// `Error(NoSuchKey)` without `from`. Renaming a key to itself renames
    /// nothing and answers `!if_absent`, as Redis does.
    Rename {
        /// The key.
        from: Bytes,
        /// Its new name.
        to: Bytes,
        /// Only if `to` is absent.
        if_absent: bool,
    },
    /// `FLUSHALL` / `FLUSHDB`: removes every key, with its TTL. Leases and
    /// locks stay (they are not data). Reply: `Int(keys removed)`.
    Flush,
    /// A hash write ([`hash`]).
    Hash(hash::HashCommand),
}

/// A read of string values or key metadata, after a read barrier.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyQuery {
    /// The value's length, 0 if absent. Reply: `Int`.
    Strlen {
        /// The key.
        key: Bytes,
    },
    /// Bytes `start..=end` of the value, negative counting from its end
    /// (Redis's `GETRANGE`). Reply: `Value(Some(bytes))`, empty if absent.
    GetRange {
        /// The key.
        key: Bytes,
        /// First byte.
        start: i64,
        /// Last byte.
        end: i64,
    },
    /// Time left on the key's TTL in milliseconds; -1 without one, -2
    /// without the key. Reply: `Int`.
    Ttl {
        /// The key.
        key: Bytes,
    },
    /// The value's type, `string` or `none`. Reply: `Value(Some(name))`.
    Type {
        /// The key.
        key: Bytes,
    },
    /// How many of `keys` exist, counting repeats. Reply: `Int`.
    Count {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// Number of keys. Reply: `Int`.
    DbSize,
    /// `KEYS pattern`: every key matching, in key order. Reply:
    /// `Values`, or `Error(ReplyTooLarge)` past the reply limit.
    Keys {
        /// A glob pattern ([`pattern`]).
        pattern: Bytes,
    },
    /// `SCAN cursor [MATCH pattern] [COUNT count]` ([`crate::service::kv::Kv::scan`]).
    /// Reply: `Values`, the next cursor (decimal) first, then the keys.
    Scan {
        /// Where to go on from; 0 to start.
        cursor: u64,
        /// About how many keys to look at (at most [`MAX_SCAN_COUNT`]).
        count: u64,
        /// Only keys matching this glob pattern.
        pattern: Option<Bytes>,
        /// Only keys of this type (`TYPE`'s name: `string`, `hash`).
        kind: Option<Bytes>,
    },
    /// A hash read ([`hash`]).
    Hash(hash::HashQuery),
}

/// Most keys one `SCAN` call looks at, whatever `COUNT` asks.
pub const MAX_SCAN_COUNT: u64 = 10_000;

impl KeyCommand {
    /// True if it can only remove keys or TTLs: a node out of disk still
    /// serves it.
    pub fn only_removes(&self) -> bool {
        matches!(
            self,
            KeyCommand::Delete { .. }
                | KeyCommand::GetDel { .. }
                | KeyCommand::Persist { .. }
                | KeyCommand::Expire { ttl: None, .. }
                | KeyCommand::Flush
                | KeyCommand::Hash(hash::HashCommand::Delete { .. })
        )
    }

    /// True if `f` holds for any key it names.
    fn any_key(&self, f: impl Fn(&Bytes) -> bool) -> bool {
        match self {
            KeyCommand::Set { key, .. }
            | KeyCommand::Append { key, .. }
            | KeyCommand::SetRange { key, .. }
            | KeyCommand::IncrBy { key, .. }
            | KeyCommand::IncrByFloat { key, .. }
            | KeyCommand::GetDel { key }
            | KeyCommand::GetEx { key, .. }
            | KeyCommand::Expire { key, .. }
            | KeyCommand::Persist { key } => f(key),
            KeyCommand::MSet { pairs, .. } => pairs.iter().any(|(k, _)| f(k)),
            KeyCommand::Delete { keys } => keys.iter().any(f),
            KeyCommand::Rename { from, to, .. } => f(from) || f(to),
            KeyCommand::Flush => false,
            KeyCommand::Hash(h) => f(h.key()),
        }
    }

    /// Refuses what a store with `limits` would refuse whatever its state:
    /// a key or value past the limits, a TTL past [`MAX_KEY_TTL`], a range
    /// write that would end past the value limit. Called before proposing
    /// and again on apply.
    pub fn check(&self, limits: &Limits) -> Result<(), KvError> {
        if self.any_key(|k| k.len() > limits.max_key_bytes) {
            return Err(KvError::KeyTooLarge);
        }
        let too_long = |v: &Bytes| v.len() > limits.max_value_bytes;
        match self {
            KeyCommand::Set { value, .. } if too_long(value) => Err(KvError::ValueTooLarge),
            KeyCommand::MSet { pairs, .. } if pairs.iter().any(|(_, v)| too_long(v)) => Err(KvError::ValueTooLarge),
            KeyCommand::Append { value, .. } if too_long(value) => Err(KvError::StringTooLong),
            // Redis checks the end only when there is something to write.
            KeyCommand::SetRange { offset, value, .. }
                if !value.is_empty() && offset.saturating_add(value.len() as u64) > limits.max_value_bytes as u64 =>
            {
                Err(KvError::StringTooLong)
            }
            KeyCommand::IncrByFloat { by, .. } if parse_float(by).is_none() => Err(KvError::NotAFloat),
            KeyCommand::Hash(h) => h.check(limits),
            _ => Ok(()),
        }
    }

    /// The TTL it would grant, to check against [`MAX_KEY_TTL`].
    pub fn ttl(&self) -> Option<Duration> {
        match self {
            KeyCommand::Set { ttl: TtlChange::Expire(d), .. }
            | KeyCommand::GetEx { ttl: TtlChange::Expire(d), .. }
            | KeyCommand::Expire { ttl: Some(d), .. } => Some(*d),
            _ => None,
        }
    }
}
