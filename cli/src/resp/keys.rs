//! RESP key commands: TTLs (`EXPIRE` and its kin, `TTL` and its kin,
//! `PERSIST`), `TYPE`, `RENAME`, `DEL`/`UNLINK`, `EXISTS`, `DBSIZE`,
//! `FLUSHALL`/`FLUSHDB` (admin users only, where users log in), `KEYS`
//! and `SCAN`; and
//! the reading of Redis's expire-time arguments that `SET` and `GETEX`
//! share. Each write is one store command, so one log entry.
//!
//! **Wall-clock time.** The store counts TTLs in log time, which is made of
//! durations leaders measured; it knows no Unix time. An absolute time a
//! client gives (`EXPIREAT`, `SET … EXAT`) is turned into a duration here,
//! against this node's wall clock, before it is proposed; `EXPIRETIME`
//! adds the TTL left to this node's wall clock. So an absolute deadline is
//! as good as the proposing node's clock, and `EXPIRETIME` asked of two
//! nodes can differ by their clocks' offset (Redis's replicas read their
//! own clocks too). The deadline then runs in log time, which can only run
//! long across a leader change (see `synod_core::service::clock`).

use super::catalog;
use super::commands::{Answer, Ctx, arity, parse_i64};
use super::reply::{array, err, int, ok, opt};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use synod_core::service::keyspace::{ExpireIf, KeyCommand, KeyQuery, MAX_KEY_TTL, TtlChange};
use synod_core::service::kv::KvReply;
use synod_core::time::Duration;

/// Milliseconds since the Unix epoch on this node's wall clock: the one
/// place the front end reads it (see the module docs).
pub(super) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How an expire-time argument counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    /// Seconds from now (`EX`).
    Seconds,
    /// Milliseconds from now (`PX`).
    Millis,
    /// A Unix time in seconds (`EXAT`).
    UnixSeconds,
    /// A Unix time in milliseconds (`PXAT`).
    UnixMillis,
}

fn invalid_expire(command: &str) -> BytesFrame {
    err(&format!("ERR invalid expire time in '{command}' command"))
}

/// The TTL of `SET … EX|PX|EXAT|PXAT` and `GETEX`: Redis refuses a value
/// below 1 and an overflow; an absolute time already past deletes the key.
pub(super) fn set_ttl(command: &str, value: &Bytes, unit: Unit) -> Result<TtlChange, BytesFrame> {
    let n = parse_i64(value)?;
    if n <= 0 {
        return Err(invalid_expire(command));
    }
    match ttl_from(n, unit, unix_ms()) {
        Some(Some(d)) if d <= MAX_KEY_TTL => Ok(TtlChange::Expire(d)),
        Some(Some(_)) | None => Err(invalid_expire(command)),
        Some(None) => Ok(TtlChange::Past),
    }
}

/// `n` in `unit` as a TTL from `now_ms` (Unix milliseconds): `Some(None)`
/// if it is already past, `None` if it overflows as it would in Redis.
fn ttl_from(n: i64, unit: Unit, now_ms: i64) -> Option<Option<Duration>> {
    let ms = match unit {
        Unit::Seconds | Unit::UnixSeconds => n.checked_mul(1000)?,
        Unit::Millis | Unit::UnixMillis => n,
    };
    let left = match unit {
        Unit::Seconds | Unit::Millis => {
            // Redis adds its clock and refuses what overflows.
            ms.checked_add(now_ms)?;
            ms
        }
        // Any time before the epoch is past, as in Redis.
        Unit::UnixSeconds | Unit::UnixMillis => ms.saturating_sub(now_ms),
    };
    Some((left > 0).then(|| Duration::from_millis(left as u64)))
}

/// True if `n` arguments (after the name) fit the command's arity.
pub(super) fn fits(e: &catalog::Entry, n: usize) -> bool {
    let n = n as i64 + 1;
    if e.arity >= 0 { n == e.arity } else { n >= -e.arity }
}

/// Answers a key command; `None` if `name` is not one.
pub(super) async fn dispatch(ctx: &Ctx<'_>, name: &str, a: &[Bytes]) -> Option<Answer> {
    let unit = match name {
        "EXPIRE" => Some(Unit::Seconds),
        "PEXPIRE" => Some(Unit::Millis),
        "EXPIREAT" => Some(Unit::UnixSeconds),
        "PEXPIREAT" => Some(Unit::UnixMillis),
        "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" | "PERSIST" | "TYPE" | "RENAME" | "RENAMENX" | "DEL"
        | "UNLINK" | "EXISTS" | "DBSIZE" | "FLUSHALL" | "FLUSHDB" | "KEYS" | "SCAN" => None,
        _ => return None,
    };
    let entry = catalog::find(name)?;
    if !fits(entry, a.len()) {
        return Some(Err(arity(name)));
    }
    Some(match unit {
        Some(unit) => expire(ctx, entry.name, &a[0], &a[1], &a[2..], unit).await,
        None => answer(ctx, name, a).await,
    })
}

async fn answer(ctx: &Ctx<'_>, name: &str, a: &[Bytes]) -> Answer {
    let key = || a[0].clone();
    let reply = match name {
        "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" => {
            let KvReply::Int(left) = ctx.ask(KeyQuery::Ttl { key: key() }).await? else { return unexpected() };
            if left < 0 {
                return Ok(int(left));
            }
            let ms = if name.ends_with("EXPIRETIME") { unix_ms().saturating_add(left) } else { left };
            // Redis rounds seconds to the nearest.
            return Ok(int(if name.starts_with('P') { ms } else { ms.saturating_add(500) / 1000 }));
        }
        "PERSIST" => ctx.key(KeyCommand::Persist { key: key() }).await?,
        "TYPE" => match ctx.ask(KeyQuery::Type { key: key() }).await? {
            KvReply::Value(Some(t)) => return Ok(BytesFrame::SimpleString(t)),
            _ => return unexpected(),
        },
        "RENAME" | "RENAMENX" => {
            let if_absent = name == "RENAMENX";
            match ctx.key(KeyCommand::Rename { from: key(), to: a[1].clone(), if_absent }).await? {
                KvReply::Bool(_) if !if_absent => return Ok(ok()),
                other => other,
            }
        }
        "DEL" | "UNLINK" => ctx.key(KeyCommand::Delete { keys: a.to_vec() }).await?,
        "EXISTS" => ctx.ask(KeyQuery::Count { keys: a.to_vec() }).await?,
        "DBSIZE" => ctx.ask(KeyQuery::DbSize).await?,
        // One database: FLUSHDB is FLUSHALL. Every removal is in one entry,
        // so ASYNC and SYNC are the same.
        "KEYS" => match ctx.ask(KeyQuery::Keys { pattern: key() }).await? {
            KvReply::Values(keys) => return Ok(array(keys.into_iter().map(opt).collect())),
            _ => return unexpected(),
        },
        "SCAN" => return scan(ctx, a).await,
        "FLUSHALL" | "FLUSHDB" => {
            if a.len() > 1 || a.first().is_some_and(|m| !matches!(&m.to_ascii_uppercase()[..], b"ASYNC" | b"SYNC")) {
                return Err(err("ERR syntax error"));
            }
            super::admin::admin_only(ctx.server, ctx.client.caller().admin, "emptying the store")?;
            ctx.key(KeyCommand::Flush).await?;
            return Ok(ok());
        }
        _ => return unexpected(),
    };
    match reply {
        KvReply::Bool(b) => Ok(int(i64::from(b))),
        KvReply::Int(n) => Ok(int(n)),
        _ => unexpected(),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: keys in the
/// order of a fixed hash, the cursor the next hash to visit (see
/// `Kv::scan`).
async fn scan(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    let cursor = scan_cursor(&a[0])?;
    let (mut pattern, mut count, mut kind) = (None, 10, None);
    let mut i = 1;
    while i < a.len() {
        let Some(value) = a.get(i + 1) else { return Err(err("ERR syntax error")) };
        match a[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value.clone()),
            b"COUNT" => count = scan_count(value)?,
            b"TYPE" => kind = Some(value.clone()),
            _ => return Err(err("ERR syntax error")),
        }
        i += 2;
    }
    scan_reply(ctx.ask(KeyQuery::Scan { cursor, count, pattern, kind }).await?)
}

/// A `SCAN`/`HSCAN` cursor.
pub(super) fn scan_cursor(a: &Bytes) -> Result<u64, BytesFrame> {
    let cursor = core::str::from_utf8(a).ok().and_then(|c| c.parse::<u64>().ok());
    cursor.ok_or_else(|| err("ERR invalid cursor"))
}

/// A `SCAN`/`HSCAN` `COUNT`: at least 1.
pub(super) fn scan_count(a: &Bytes) -> Result<u64, BytesFrame> {
    match parse_i64(a)? {
        n if n >= 1 => Ok(n as u64),
        _ => Err(err("ERR syntax error")),
    }
}

/// A scan's answer (the next cursor, then the items) as Redis shapes it:
/// the cursor, then an array of the items.
pub(super) fn scan_reply(reply: KvReply) -> Answer {
    let KvReply::Values(vs) = reply else { return unexpected() };
    let mut vs = vs.into_iter();
    let Some(next) = vs.next() else { return unexpected() };
    Ok(array(vec![opt(next), array(vs.map(opt).collect())]))
}

fn unexpected() -> Answer {
    Err(err("ERR unexpected reply"))
}

/// EXPIRE key time [NX | XX | GT | LT]..., in Redis's order of checks:
/// options, then the number, then its overflow.
async fn expire(ctx: &Ctx<'_>, command: &str, key: &Bytes, time: &Bytes, opts: &[Bytes], unit: Unit) -> Answer {
    let mut only = ExpireIf::default();
    for o in opts {
        match o.to_ascii_uppercase().as_slice() {
            b"NX" => only.nx = true,
            b"XX" => only.xx = true,
            b"GT" => only.gt = true,
            b"LT" => only.lt = true,
            _ => return Err(err(&format!("ERR Unsupported option {}", String::from_utf8_lossy(o)))),
        }
    }
    if only.nx && (only.xx || only.gt || only.lt) {
        return Err(err("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if only.gt && only.lt {
        return Err(err("ERR GT and LT options at the same time are not compatible"));
    }
    let n = parse_i64(time)?;
    let ttl = match ttl_from(n, unit, unix_ms()) {
        Some(Some(d)) if d > MAX_KEY_TTL => return Err(invalid_expire(command)),
        Some(ttl) => ttl,
        None => return Err(invalid_expire(command)),
    };
    match ctx.key(KeyCommand::Expire { key: key.clone(), ttl, only }).await? {
        KvReply::Bool(b) => Ok(int(i64::from(b))),
        _ => unexpected(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_times_become_ttls_as_redis_reads_them() {
        let now = 1_700_000_000_000;
        let ttl = |n, unit| ttl_from(n, unit, now);
        assert_eq!(ttl(10, Unit::Seconds), Some(Some(Duration::from_secs(10))));
        assert_eq!(ttl(0, Unit::Millis), Some(None));
        assert_eq!(ttl(-5, Unit::Seconds), Some(None));
        assert_eq!(ttl(now / 1000 + 3, Unit::UnixSeconds), Some(Some(Duration::from_secs(3))));
        assert_eq!(ttl(now - 1, Unit::UnixMillis), Some(None));
        assert_eq!(ttl(i64::MAX / 1000 + 1, Unit::Seconds), None, "seconds overflow as milliseconds");
        assert_eq!(ttl(i64::MAX - 10, Unit::Millis), None, "overflows once the clock is added");
        assert_eq!(ttl(i64::MIN, Unit::UnixMillis), Some(None));
        assert_eq!(ttl(i64::MIN / 1000 - 1, Unit::UnixSeconds), None);
    }

    #[test]
    fn arity_follows_the_catalog() {
        let set = catalog::find("set").unwrap();
        assert!(!fits(set, 1) && fits(set, 2) && fits(set, 9));
        let ttl = catalog::find("ttl").unwrap();
        assert!(fits(ttl, 1) && !fits(ttl, 2));
    }
}
