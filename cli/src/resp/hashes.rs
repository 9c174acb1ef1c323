//! RESP hash commands: `HSET`, `HMSET`, `HSETNX`, `HGET`, `HMGET`, `HDEL`,
//! `HGETALL`, `HKEYS`, `HVALS`, `HLEN`, `HEXISTS`, `HSTRLEN`, `HINCRBY`,
//! `HINCRBYFLOAT`, `HSCAN`. Each write is one store command, so one log
//! entry; a hash command on a string key (and a string command on a hash)
//! answers `WRONGTYPE`, as Redis does.

use super::catalog;
use super::commands::{Answer, Ctx, arity, parse_i64};
use super::keys::{fits, scan_count, scan_cursor, scan_reply};
use super::reply::{array, err, int, ok, opt};
use bytes::Bytes;
use synod_core::service::keyspace::hash::{HashCommand, HashQuery};
use synod_core::service::keyspace::{KeyCommand, KeyQuery, parse_float};
use synod_core::service::kv::KvReply;

/// Answers a hash command; `None` if `name` is not one.
pub(super) async fn dispatch(ctx: &mut Ctx<'_>, name: &str, a: &[Bytes]) -> Option<Answer> {
    // Every hash command starts with H: anything else (GET, SET, …, the
    // hot path) leaves at once, without a catalog lookup.
    if !name.starts_with('H') {
        return None;
    }
    let entry = catalog::find(name).filter(|e| e.group == "hash")?;
    // HSET and HMSET take pairs after the key: an odd count is an arity
    // error in Redis too.
    if !fits(entry, a.len()) || (matches!(name, "HSET" | "HMSET") && a.len().is_multiple_of(2)) {
        return Some(Err(arity(name)));
    }
    Some(answer(ctx, name, a).await)
}

async fn answer(ctx: &mut Ctx<'_>, name: &str, a: &[Bytes]) -> Answer {
    let key = || a[0].clone();
    let write = |cmd| KeyCommand::Hash(cmd);
    let read = |q| KeyQuery::Hash(q);
    let reply = match name {
        "HSET" | "HMSET" | "HSETNX" => {
            let pairs = a[1..].chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            let if_absent = name == "HSETNX";
            let reply = ctx.key(write(HashCommand::Set { key: key(), pairs, if_absent })).await?;
            match (name, reply) {
                ("HMSET", KvReply::Int(_)) => return Ok(ok()),
                (_, reply) => reply,
            }
        }
        "HDEL" => ctx.key(write(HashCommand::Delete { key: key(), fields: a[1..].to_vec() })).await?,
        "HINCRBY" => {
            let by = parse_i64(&a[2])?;
            ctx.key(write(HashCommand::IncrBy { key: key(), field: a[1].clone(), by })).await?
        }
        "HINCRBYFLOAT" => {
            if parse_float(&a[2]).is_none() {
                return Err(err("ERR value is not a valid float"));
            }
            ctx.key(write(HashCommand::IncrByFloat { key: key(), field: a[1].clone(), by: a[2].clone() })).await?
        }
        "HGET" => ctx.ask(read(HashQuery::Get { key: key(), field: a[1].clone() })).await?,
        "HMGET" => ctx.ask(read(HashQuery::MGet { key: key(), fields: a[1..].to_vec() })).await?,
        "HGETALL" | "HKEYS" | "HVALS" => {
            let (names, values) = (name != "HVALS", name != "HKEYS");
            let reply = ctx.ask(read(HashQuery::All { key: key(), names, values })).await?;
            // RESP3 writes a hash's names and values as a map.
            ctx.client.map_reply = name == "HGETALL";
            reply
        }
        "HLEN" => ctx.ask(read(HashQuery::Len { key: key() })).await?,
        "HEXISTS" => ctx.ask(read(HashQuery::Exists { key: key(), field: a[1].clone() })).await?,
        "HSTRLEN" => ctx.ask(read(HashQuery::Strlen { key: key(), field: a[1].clone() })).await?,
        "HSCAN" => return hscan(ctx, a).await,
        _ => return Err(err("ERR unexpected command")),
    };
    match reply {
        // HEXISTS
        KvReply::Bool(b) => Ok(int(i64::from(b))),
        KvReply::Int(n) => Ok(int(n)),
        KvReply::Value(v) => Ok(opt(v)),
        KvReply::Values(vs) => Ok(array(vs.into_iter().map(opt).collect())),
        _ => Err(err("ERR unexpected reply")),
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]: fields in
/// the order of a fixed hash of their names, as `SCAN` walks keys.
async fn hscan(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    let cursor = scan_cursor(&a[1])?;
    let (mut pattern, mut count, mut values) = (None, 10, true);
    let mut i = 2;
    while i < a.len() {
        let option = a[i].to_ascii_uppercase();
        if option == b"NOVALUES" {
            values = false;
            i += 1;
            continue;
        }
        let Some(value) = a.get(i + 1) else { return Err(err("ERR syntax error")) };
        match option.as_slice() {
            b"MATCH" => pattern = Some(value.clone()),
            b"COUNT" => count = scan_count(value)?,
            _ => return Err(err("ERR syntax error")),
        }
        i += 2;
    }
    let q = HashQuery::Scan { key: a[0].clone(), cursor, count, pattern, values };
    scan_reply(ctx.ask(KeyQuery::Hash(q)).await?)
}
