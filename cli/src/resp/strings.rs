//! RESP string commands: `SET` with every option and its older forms
//! (`SETNX`, `SETEX`, `PSETEX`, `GETSET`), `GETDEL`, `GETEX`, `MSET`,
//! `MSETNX`, `APPEND`, `STRLEN`, `GETRANGE`, `SETRANGE`, the increments.
//! Each write is one store command, so one log entry: a TTL is set in the
//! same entry as the value, and `MSET` is never seen half done.

use super::catalog;
use super::commands::{Answer, Ctx, arity, parse_i64};
use super::keys::{Unit, fits, set_ttl};
use super::reply::{err, int, ok, opt};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use synod_core::service::keyspace::{KeyCommand, KeyQuery, Presence, TtlChange, parse_float};
use synod_core::service::kv::{KvQuery, KvReply};

/// Answers a string command; `None` if `name` is not one.
pub(super) async fn dispatch(ctx: &Ctx<'_>, name: &str, a: &[Bytes]) -> Option<Answer> {
    if !matches!(
        name,
        "SET"
            | "SETNX"
            | "SETEX"
            | "PSETEX"
            | "GETSET"
            | "GETDEL"
            | "GETEX"
            | "MSET"
            | "MSETNX"
            | "APPEND"
            | "STRLEN"
            | "GETRANGE"
            | "SETRANGE"
            | "INCR"
            | "DECR"
            | "INCRBY"
            | "DECRBY"
            | "INCRBYFLOAT"
    ) {
        return None;
    }
    let entry = catalog::find(name)?;
    // MSET takes pairs: an odd count is an arity error in Redis too.
    if !fits(entry, a.len()) || (name.starts_with("MSET") && a.len() % 2 == 1) {
        return Some(Err(arity(name)));
    }
    Some(answer(ctx, name, a).await)
}

async fn answer(ctx: &Ctx<'_>, name: &str, a: &[Bytes]) -> Answer {
    let key = || a[0].clone();
    let set = |value: &Bytes, only, get, ttl| KeyCommand::Set { key: key(), value: value.clone(), only, get, ttl };
    let reply = match name {
        "SET" => return set_command(ctx, a).await,
        "SETNX" => ctx.key(set(&a[1], Presence::Absent, false, TtlChange::Clear)).await?,
        "SETEX" | "PSETEX" => {
            let unit = if name == "SETEX" { Unit::Seconds } else { Unit::Millis };
            let ttl = set_ttl(&name.to_ascii_lowercase(), &a[1], unit)?;
            ctx.key(set(&a[2], Presence::Any, false, ttl)).await?;
            return Ok(ok());
        }
        "GETSET" => ctx.key(set(&a[1], Presence::Any, true, TtlChange::Clear)).await?,
        "GETDEL" => ctx.key(KeyCommand::GetDel { key: key() }).await?,
        "GETEX" => return getex(ctx, a).await,
        "MSET" | "MSETNX" => {
            let pairs = a.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            let if_none = name == "MSETNX";
            match ctx.key(KeyCommand::MSet { pairs, if_none }).await? {
                KvReply::Bool(_) if !if_none => return Ok(ok()),
                other => other,
            }
        }
        "APPEND" => ctx.key(KeyCommand::Append { key: key(), value: a[1].clone() }).await?,
        "STRLEN" => ctx.ask(KeyQuery::Strlen { key: key() }).await?,
        "GETRANGE" => {
            let (start, end) = (parse_i64(&a[1])?, parse_i64(&a[2])?);
            ctx.ask(KeyQuery::GetRange { key: key(), start, end }).await?
        }
        "SETRANGE" => {
            let offset = u64::try_from(parse_i64(&a[1])?).map_err(|_| err("ERR offset is out of range"))?;
            ctx.key(KeyCommand::SetRange { key: key(), offset, value: a[2].clone() }).await?
        }
        "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
            let by = match name {
                "INCR" => 1,
                "DECR" => -1,
                "INCRBY" => parse_i64(&a[1])?,
                _ => parse_i64(&a[1])?.checked_neg().ok_or_else(|| err("ERR decrement would overflow"))?,
            };
            ctx.key(KeyCommand::IncrBy { key: key(), by }).await?
        }
        "INCRBYFLOAT" => {
            if parse_float(&a[1]).is_none() {
                return Err(err("ERR value is not a valid float"));
            }
            ctx.key(KeyCommand::IncrByFloat { key: key(), by: a[1].clone() }).await?
        }
        _ => return Err(err("ERR unexpected command")),
    };
    match reply {
        // SETNX, MSETNX
        KvReply::Bool(b) => Ok(int(i64::from(b))),
        KvReply::Int(n) => Ok(int(n)),
        KvReply::Value(v) => Ok(opt(v)),
        _ => Err(err("ERR unexpected reply")),
    }
}

/// Which TTL option a `SET` or `GETEX` named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TtlOption {
    None,
    Keep,
    Persist,
    Expire(Unit, usize),
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]:
/// options as Redis reads them (a repeated option is fine, a conflicting
/// one a syntax error); the TTL is checked before anything is written.
async fn set_command(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = TtlOption::None;
    let mut i = 2;
    while i < a.len() {
        let o = a[i].to_ascii_uppercase();
        match o.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get = true,
            _ => match ttl_option(&o, ttl, i + 1 < a.len(), false) {
                Some(TtlOption::Expire(unit, _)) => {
                    ttl = TtlOption::Expire(unit, i + 1);
                    i += 1;
                }
                Some(t) => ttl = t,
                None => return Err(err("ERR syntax error")),
            },
        }
        i += 1;
    }
    let ttl = match ttl {
        TtlOption::Expire(unit, at) => set_ttl("set", &a[at], unit)?,
        TtlOption::Keep => TtlChange::Keep,
        _ => TtlChange::Clear,
    };
    let only = if nx {
        Presence::Absent
    } else if xx {
        Presence::Present
    } else {
        Presence::Any
    };
    match ctx.key(KeyCommand::Set { key: a[0].clone(), value: a[1].clone(), only, get, ttl }).await? {
        KvReply::Value(old) => Ok(opt(old)),
        KvReply::Bool(true) => Ok(ok()),
        KvReply::Bool(false) => Ok(BytesFrame::Null),
        _ => Err(err("ERR unexpected reply")),
    }
}

/// Reads a TTL option `o` given the one already read: `None` if it is not
/// one, or conflicts (Redis allows repeating an option, not mixing them).
fn ttl_option(o: &[u8], current: TtlOption, has_value: bool, getex: bool) -> Option<TtlOption> {
    let unit = match o {
        b"EX" => Unit::Seconds,
        b"PX" => Unit::Millis,
        b"EXAT" => Unit::UnixSeconds,
        b"PXAT" => Unit::UnixMillis,
        b"KEEPTTL" if !getex && matches!(current, TtlOption::None | TtlOption::Keep) => return Some(TtlOption::Keep),
        b"PERSIST" if getex && matches!(current, TtlOption::None | TtlOption::Persist) => {
            return Some(TtlOption::Persist);
        }
        _ => return None,
    };
    let free = match current {
        TtlOption::None => true,
        TtlOption::Expire(u, _) => u == unit,
        TtlOption::Keep | TtlOption::Persist => false,
    };
    (free && has_value).then_some(TtlOption::Expire(unit, 0))
}

/// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]. Without an option
/// it is a GET and needs no log entry. As in Redis, a missing key answers
/// nil before a bad time is noticed.
async fn getex(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    let mut option = TtlOption::None;
    let mut i = 1;
    while i < a.len() {
        match ttl_option(&a[i].to_ascii_uppercase(), option, i + 1 < a.len(), true) {
            Some(TtlOption::Expire(unit, _)) => {
                option = TtlOption::Expire(unit, i + 1);
                i += 1;
            }
            Some(t) => option = t,
            None => return Err(err("ERR syntax error")),
        }
        i += 1;
    }
    let ttl = match option {
        TtlOption::None | TtlOption::Keep => {
            return match ctx.kv_query(KvQuery::Get { key: a[0].clone() }).await? {
                KvReply::Value(v) => Ok(opt(v)),
                _ => Err(err("ERR unexpected reply")),
            };
        }
        TtlOption::Persist => TtlChange::Clear,
        TtlOption::Expire(unit, at) => match set_ttl("getex", &a[at], unit) {
            Ok(ttl) => ttl,
            Err(bad_time) => {
                return match ctx.kv_query(KvQuery::Get { key: a[0].clone() }).await? {
                    KvReply::Value(None) => Ok(BytesFrame::Null),
                    _ => Err(bad_time),
                };
            }
        },
    };
    match ctx.key(KeyCommand::GetEx { key: a[0].clone(), ttl }).await? {
        KvReply::Value(v) => Ok(opt(v)),
        _ => Err(err("ERR unexpected reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_options_conflict_as_in_redis() {
        let ex = TtlOption::Expire(Unit::Seconds, 3);
        assert!(ttl_option(b"EX", TtlOption::None, true, false).is_some());
        assert!(ttl_option(b"EX", TtlOption::None, false, false).is_none(), "EX needs a value");
        assert!(ttl_option(b"EX", ex, true, false).is_some(), "repeated");
        assert!(ttl_option(b"PX", ex, true, false).is_none(), "mixed");
        assert!(ttl_option(b"KEEPTTL", ex, false, false).is_none());
        assert!(ttl_option(b"EX", TtlOption::Keep, true, false).is_none());
        assert!(ttl_option(b"PERSIST", TtlOption::None, false, false).is_none(), "not SET's");
        assert!(ttl_option(b"KEEPTTL", TtlOption::None, false, true).is_none(), "not GETEX's");
        assert!(ttl_option(b"PERSIST", ex, false, true).is_none());
    }
}
