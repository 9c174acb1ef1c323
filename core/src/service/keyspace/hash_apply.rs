//! How the [`Store`] applies [`HashCommand`]s and answers [`HashQuery`]s.
//! A refusal is decided before anything changes.

use super::hash::{HashCommand, HashQuery};
use super::value::{add_floats, parse_float, parse_integer};
use crate::lease::FencingToken;
use crate::service::hashed::{self, Fields};
use crate::service::kv::{KvError, KvReply};
use crate::service::store::Store;
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;

impl Store {
    /// Applies a hash command (checked against the limits) from the entry
    /// whose token is `token`.
    pub(crate) fn run_hash(&mut self, token: FencingToken, cmd: HashCommand) -> KvReply {
        let key = cmd.key().clone();
        let max_value = self.kv.limits().max_value_bytes;
        let result = self.kv.update_fields(&key, |fields| match cmd {
            HashCommand::Set { pairs, if_absent, .. } => {
                let mut added = 0;
                let mut changed = false;
                for (f, v) in &pairs {
                    if if_absent && fields.get(f).is_some() {
                        continue;
                    }
                    added += i64::from(fields.insert(f, v));
                    changed = true;
                }
                (Ok(KvReply::Int(added)), changed)
            }
            HashCommand::Delete { fields: names, .. } => {
                let gone = names.iter().filter(|f| fields.remove(f)).count();
                (Ok(KvReply::Int(gone as i64)), gone > 0)
            }
            HashCommand::IncrBy { field, by, .. } => {
                let current = match fields.get(&field) {
                    None => 0,
                    Some(v) => match parse_integer(v) {
                        Some(n) => n,
                        None => return (Err(KvError::FieldNotAnInteger), false),
                    },
                };
                let Some(next) = current.checked_add(by) else { return (Err(KvError::Overflow), false) };
                fields.insert(&field, format!("{next}").as_bytes());
                (Ok(KvReply::Int(next)), true)
            }
            HashCommand::IncrByFloat { field, by, .. } => {
                let old = fields.get(&field).cloned().unwrap_or_else(|| Bytes::from_static(b"0"));
                let (Some(a), Some(b)) = (parse_float(&old), parse_float(&by)) else {
                    return (Err(KvError::FieldNotAFloat), false);
                };
                let Some(sum) = add_floats(&old, &by, a, b) else { return (Err(KvError::NotFinite), false) };
                if sum.len() > max_value {
                    return (Err(KvError::ValueTooLarge), false);
                }
                fields.insert(&field, sum.as_bytes());
                (Ok(KvReply::Value(Some(Bytes::from(sum)))), true)
            }
        });
        // The last field gone takes the key, and its TTL, with it.
        if !self.kv.contains(&key) {
            self.set_key_lease(token, &key, None);
        }
        match result {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) | Err(e) => KvReply::Error(e),
        }
    }

    /// Answers a hash query from applied state.
    pub(crate) fn answer_hash(&self, q: &HashQuery) -> KvReply {
        match self.kv.fields(q.key()) {
            Ok(fields) => answer(fields, q, self.config.limits.max_reply_bytes).unwrap_or_else(KvReply::Error),
            Err(e) => KvReply::Error(e),
        }
    }
}

/// `q` answered from `fields` (`None`: no such key), within `max_bytes`.
fn answer(fields: Option<&Fields>, q: &HashQuery, max_bytes: usize) -> Result<KvReply, KvError> {
    let empty = Fields::default();
    let fields = fields.unwrap_or(&empty);
    Ok(match q {
        HashQuery::Get { field, .. } => KvReply::Value(fields.get(field).cloned()),
        HashQuery::MGet { fields: names, .. } => {
            // Sized before it is built: bounded however often a field is named.
            let mut bytes = 0usize;
            for f in names {
                bytes = bytes.saturating_add(fields.get(f).map_or(0, Bytes::len));
                if bytes > max_bytes {
                    return Err(KvError::ReplyTooLarge);
                }
            }
            KvReply::Values(names.iter().map(|f| fields.get(f).cloned()).collect())
        }
        HashQuery::All { names, values, .. } => {
            let size = |(f, v): (&Bytes, &Bytes)| if *names { f.len() } else { 0 } + if *values { v.len() } else { 0 };
            let mut bytes = 0usize;
            for item in fields.iter() {
                bytes = bytes.saturating_add(size(item));
                if bytes > max_bytes {
                    return Err(KvError::ReplyTooLarge);
                }
            }
            let mut out = Vec::with_capacity(fields.len() * (usize::from(*names) + usize::from(*values)));
            for (f, v) in fields.iter() {
                if *names {
                    out.push(Some(f.clone()));
                }
                if *values {
                    out.push(Some(v.clone()));
                }
            }
            KvReply::Values(out)
        }
        HashQuery::Len { .. } => KvReply::Int(fields.len() as i64),
        HashQuery::Exists { field, .. } => KvReply::Bool(fields.get(field).is_some()),
        HashQuery::Strlen { field, .. } => KvReply::Int(fields.get(field).map_or(0, |v| v.len() as i64)),
        HashQuery::Scan { cursor, count, pattern, values, .. } => {
            let count = (*count).min(super::MAX_SCAN_COUNT) as usize;
            let take = |(f, v): &(&Bytes, &Bytes)| {
                let wanted = pattern.as_ref().is_none_or(|p| super::pattern::matches(p, f));
                wanted.then(|| f.len() + if *values { v.len() } else { 0 })
            };
            let (next, found) = hashed::scan(fields.from_cursor(*cursor), count, max_bytes, take);
            let mut out = Vec::with_capacity(1 + found.len() * 2);
            out.push(Some(Bytes::from(format!("{next}"))));
            for (f, v) in found {
                out.push(Some(f.clone()));
                if *values {
                    out.push(Some(v.clone()));
                }
            }
            KvReply::Values(out)
        }
    })
}
