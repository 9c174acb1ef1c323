//! How the [`Store`] applies [`KeyCommand`]s and answers [`KeyQuery`]s.
//!
//! Every command runs to completion inside one entry, and a refusal is
//! decided before anything changes, so a refused command changes nothing.

use super::value::{add_floats, overwrite, parse_float, parse_integer, range};
use super::{ExpireIf, KeyCommand, KeyQuery, MAX_KEY_TTL, Presence, TtlChange};
use crate::lease::FencingToken;
use crate::service::kv::{KvError, KvReply};
use crate::service::reply::{Reply, StoreError};
use crate::service::store::Store;
use crate::time::Duration;
use alloc::string::String;
use bytes::Bytes;
use core::fmt::Write as _;

impl Store {
    /// Applies a key command from the entry whose token is `token`.
    pub(crate) fn run_key(&mut self, token: FencingToken, cmd: KeyCommand) -> Reply {
        if cmd.ttl().is_some_and(|d| d.is_zero() || d > MAX_KEY_TTL) {
            return Reply::Error(StoreError::InvalidTtl);
        }
        if let Err(e) = cmd.check(self.kv.limits()) {
            return Reply::Kv(KvReply::Error(e));
        }
        // A string read from a key holding a hash: refused before anything changes.
        let string = |kv: &crate::service::kv::Kv, key: &[u8]| kv.string(key).map(Option::<&Bytes>::cloned);
        Reply::Kv(match cmd {
            KeyCommand::Set { key, value, only, get, ttl } => {
                // SET replaces a value of any type; only its GET reads one.
                let old = if get {
                    match string(&self.kv, &key) {
                        Ok(old) => old,
                        Err(e) => return Reply::Kv(KvReply::Error(e)),
                    }
                } else {
                    None
                };
                let exists = self.kv.contains(&key);
                let write = match only {
                    Presence::Any => true,
                    Presence::Absent => !exists,
                    Presence::Present => exists,
                };
                if write {
                    self.kv.put(&key, &value);
                    self.change_ttl(token, &key, ttl);
                }
                if get { KvReply::Value(old) } else { KvReply::Bool(write) }
            }
            KeyCommand::MSet { pairs, if_none } => {
                if if_none && pairs.iter().any(|(k, _)| self.kv.contains(k)) {
                    return Reply::Kv(KvReply::Bool(false));
                }
                for (k, v) in &pairs {
                    self.kv.put(k, v);
                    self.change_ttl(token, k, TtlChange::Clear);
                }
                KvReply::Bool(true)
            }
            KeyCommand::Append { key, value } => {
                let old = match string(&self.kv, &key) {
                    Ok(old) => old.unwrap_or_default(),
                    Err(e) => return Reply::Kv(KvReply::Error(e)),
                };
                let len = old.len().saturating_add(value.len());
                if len > self.kv.limits().max_value_bytes {
                    return Reply::Kv(KvReply::Error(KvError::StringTooLong));
                }
                let mut new = alloc::vec::Vec::with_capacity(len);
                new.extend_from_slice(&old);
                new.extend_from_slice(&value);
                self.kv.put(&key, &new);
                KvReply::Int(len as i64)
            }
            KeyCommand::SetRange { key, offset, value } => {
                let old = match string(&self.kv, &key) {
                    Ok(old) => old,
                    Err(e) => return Reply::Kv(KvReply::Error(e)),
                };
                if value.is_empty() {
                    return Reply::Kv(KvReply::Int(old.map_or(0, |v| v.len() as i64)));
                }
                // `check` bounded offset + length by the value limit.
                let new = overwrite(old.as_deref().unwrap_or_default(), offset as usize, &value);
                self.kv.put(&key, &new);
                KvReply::Int(new.len() as i64)
            }
            KeyCommand::IncrBy { key, by } => {
                let current = match string(&self.kv, &key) {
                    Err(e) => return Reply::Kv(KvReply::Error(e)),
                    Ok(None) => 0,
                    Ok(Some(v)) => match parse_integer(&v) {
                        Some(n) => n,
                        None => return Reply::Kv(KvReply::Error(KvError::NotAnInteger)),
                    },
                };
                let Some(next) = current.checked_add(by) else { return Reply::Kv(KvReply::Error(KvError::Overflow)) };
                let mut s = String::new();
                let _ = write!(s, "{next}");
                self.kv.put(&key, s.as_bytes());
                KvReply::Int(next)
            }
            KeyCommand::IncrByFloat { key, by } => {
                let old = match string(&self.kv, &key) {
                    Ok(old) => old.unwrap_or_else(|| Bytes::from_static(b"0")),
                    Err(e) => return Reply::Kv(KvReply::Error(e)),
                };
                let (Some(a), Some(b)) = (parse_float(&old), parse_float(&by)) else {
                    return Reply::Kv(KvReply::Error(KvError::NotAFloat));
                };
                let Some(sum) = add_floats(&old, &by, a, b) else {
                    return Reply::Kv(KvReply::Error(KvError::NotFinite));
                };
                if sum.len() > self.kv.limits().max_value_bytes {
                    return Reply::Kv(KvReply::Error(KvError::ValueTooLarge));
                }
                self.kv.put(&key, sum.as_bytes());
                KvReply::Value(Some(Bytes::from(sum)))
            }
            KeyCommand::GetDel { key } => match string(&self.kv, &key) {
                Ok(value) => {
                    self.remove_key(token, &key);
                    KvReply::Value(value)
                }
                Err(e) => KvReply::Error(e),
            },
            KeyCommand::GetEx { key, ttl } => {
                let value = match string(&self.kv, &key) {
                    Ok(value) => value,
                    Err(e) => return Reply::Kv(KvReply::Error(e)),
                };
                if value.is_some() {
                    self.change_ttl(token, &key, ttl);
                }
                KvReply::Value(value)
            }
            KeyCommand::Expire { key, ttl, only } => KvReply::Bool(self.expire(token, &key, ttl, only)),
            KeyCommand::Persist { key } => {
                let had = self.kv.contains(&key) && self.key_leases.contains_key(&key[..]);
                if had {
                    self.set_key_lease(token, &key, None);
                }
                KvReply::Bool(had)
            }
            KeyCommand::Delete { keys } => {
                let gone = keys.iter().filter(|k| self.remove_key(token, k).is_some()).count();
                KvReply::Int(gone as i64)
            }
            KeyCommand::Rename { from, to, if_absent } => {
                let Some(value) = self.kv.value(&from).cloned() else {
                    return Reply::Kv(KvReply::Error(KvError::NoSuchKey));
                };
                if from == to {
                    return Reply::Kv(KvReply::Bool(!if_absent));
                }
                if if_absent && self.kv.contains(&to) {
                    return Reply::Kv(KvReply::Bool(false));
                }
                let lease = self.key_leases.get(&from[..]).copied();
                self.remove_key(token, &to);
                self.kv.put_value(&to, value);
                // Attached to `to` before `from` lets go, so a key's own
                // TTL lease moves rather than ends.
                self.set_key_lease(token, &to, lease);
                self.remove_key(token, &from);
                KvReply::Bool(true)
            }
            KeyCommand::Flush => {
                // Every TTL lease let go of (ending those that were keys'
                // own), then the map emptied at once.
                let leased: alloc::vec::Vec<Bytes> = self.key_leases.keys().cloned().collect();
                for key in leased {
                    self.set_key_lease(token, &key, None);
                }
                KvReply::Int(self.kv.clear() as i64)
            }
            KeyCommand::Hash(h) => self.run_hash(token, h),
        })
    }

    /// Answers a key query from applied state.
    pub(crate) fn answer_key(&self, q: &KeyQuery) -> Reply {
        Reply::Kv(match q {
            KeyQuery::Strlen { key } => match self.kv.string(key) {
                Ok(v) => KvReply::Int(v.map_or(0, |v| v.len() as i64)),
                Err(e) => KvReply::Error(e),
            },
            KeyQuery::GetRange { key, start, end } => match self.kv.string(key) {
                Ok(v) => KvReply::Value(Some(v.map_or_else(Bytes::new, |v| range(v, *start, *end)))),
                Err(e) => KvReply::Error(e),
            },
            KeyQuery::Ttl { key } => KvReply::Int(match self.key_ttl(key) {
                None => -2,
                Some(None) => -1,
                Some(Some(left)) => i64::try_from(left.as_millis()).unwrap_or(i64::MAX),
            }),
            KeyQuery::Type { key } => {
                let name = self.kv.value(key).map_or("none", |v| v.type_name());
                KvReply::Value(Some(Bytes::from_static(name.as_bytes())))
            }
            KeyQuery::Count { keys } => KvReply::Int(keys.iter().filter(|k| self.kv.contains(k)).count() as i64),
            KeyQuery::DbSize => KvReply::Int(self.kv.len() as i64),
            KeyQuery::Keys { pattern } => {
                let max = self.config.limits.max_reply_bytes;
                match self.kv.keys(max, |k| super::pattern::matches(pattern, k)) {
                    Some(keys) => KvReply::Values(keys.into_iter().map(Some).collect()),
                    None => KvReply::Error(KvError::ReplyTooLarge),
                }
            }
            KeyQuery::Scan { cursor, count, pattern, kind } => {
                let count = (*count).min(super::MAX_SCAN_COUNT) as usize;
                let max = self.config.limits.max_reply_bytes;
                let wanted = |k: &[u8], v: &crate::service::kv::Value| {
                    pattern.as_ref().is_none_or(|p| super::pattern::matches(p, k))
                        && kind.as_ref().is_none_or(|t| t.eq_ignore_ascii_case(v.type_name().as_bytes()))
                };
                let (next, keys) = self.kv.scan(*cursor, count, max, wanted);
                let next = Bytes::from(alloc::format!("{next}"));
                KvReply::Values(core::iter::once(Some(next)).chain(keys.into_iter().map(Some)).collect())
            }
            KeyQuery::Hash(h) => self.answer_hash(h),
        })
    }

    /// `None` without the key; `Some(None)` without a TTL; else the log
    /// time left (a TTL whose clock waits for the next tick has all of it).
    pub fn key_ttl(&self, key: &[u8]) -> Option<Option<Duration>> {
        if !self.kv.contains(key) {
            return None;
        }
        let Some(&lease) = self.key_leases.get(key) else { return Some(None) };
        let left = match self.leases.deadline(lease) {
            Some(deadline) => deadline - self.now,
            None => self.leases.get(lease).map_or(Duration::ZERO, |l| l.ttl()),
        };
        Some(Some(left))
    }

    /// Deletes `key` and lets go of its TTL; returns its value.
    fn remove_key(&mut self, token: FencingToken, key: &[u8]) -> Option<crate::service::kv::Value> {
        let old = self.kv.remove(key)?;
        self.set_key_lease(token, key, None);
        Some(old)
    }

    /// Applies `ttl` to `key`, which exists.
    fn change_ttl(&mut self, token: FencingToken, key: &[u8], ttl: TtlChange) {
        match ttl {
            TtlChange::Keep => {}
            TtlChange::Clear => self.set_key_lease(token, key, None),
            TtlChange::Expire(d) => {
                let lease = self.leases.grant_for_key(d);
                self.set_key_lease(token, key, Some(lease));
            }
            TtlChange::Past => {
                self.remove_key(token, key);
            }
        }
    }

    /// Redis's `EXPIRE` rules: a missing key, or one failing a condition,
    /// is left alone; no TTL counts as one that never ends.
    fn expire(&mut self, token: FencingToken, key: &[u8], ttl: Option<Duration>, only: ExpireIf) -> bool {
        let Some(current) = self.key_ttl(key) else { return false };
        // `None` (already past) ends before any current TTL, which is
        // still running.
        let sooner = |a: Option<Duration>, b: Duration| a.is_none_or(|a| a < b);
        let refused = (only.nx && current.is_some())
            || (only.xx && current.is_none())
            || (only.gt && current.is_none_or(|c| sooner(ttl, c) || ttl == Some(c)))
            || (only.lt && current.is_some_and(|c| !sooner(ttl, c)));
        if refused {
            return false;
        }
        self.change_ttl(token, key, ttl.map_or(TtlChange::Past, TtlChange::Expire));
        true
    }
}
