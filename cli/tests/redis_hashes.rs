//! Hashes through the `redis` crate against a real cluster, step by step
//! beside a `redis-server` where one is installed: every hash command,
//! `WRONGTYPE` both ways, a hash's TTL and its end with the last field,
//! listings compared sorted (Redis answers a small hash in insertion
//! order, synod in the hash order of field names), the crate's `HSCAN`
//! iterator, and hashes inside the default transactional pipeline.

mod common;
mod compare;

use common::{Scratch, client, cluster, free_ports, retry};
use compare::{R, Servers, Session, Want, bulk, error, int, nil, ok, run};
use redis::TypedCommands as _;
use std::collections::{BTreeSet, HashMap};

/// Runs a listing on both servers and compares its items sorted.
fn sorted(t: &mut Session, args: &[&str], want: &[&str]) {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let items = |r: R| match r {
        R::Array(items) => {
            let mut items: Vec<R> = items;
            items.sort_by_key(|i| format!("{i:?}"));
            items
        }
        other => panic!("{args:?}: not an array: {other:?}"),
    };
    let mut want: Vec<R> = want.iter().map(|w| R::Bulk(w.as_bytes().to_vec())).collect();
    want.sort_by_key(|i| format!("{i:?}"));
    assert_eq!(items(run(&mut t.synod, &args)), want, "synod: {args:?}");
    if let Some(r) = &mut t.redis {
        assert_eq!(items(run(r, &args)), want, "redis-server: {args:?}");
    }
}

#[test]
fn hash_commands_answer_as_redis_server_does() {
    let servers = Servers::start("redis-hashes");
    let mut t = servers.session(1, client);
    let wrongtype = || error("WRONGTYPE Operation against a key holding the wrong kind of value");
    let arity = |c: &str| error(&format!("ERR wrong number of arguments for '{c}' command"));

    t.s(&["HSET", "h", "a", "1", "b", "2"], int(2));
    t.s(&["HSET", "h", "a", "10", "c", "3"], int(1));
    t.s(&["HGET", "h", "a"], bulk("10"));
    t.s(&["HGET", "h", "zz"], nil());
    t.s(&["HGET", "nothing", "a"], nil());
    t.s(&["HMSET", "h", "d", "4"], ok());
    t.s(&["HSETNX", "h", "a", "no"], int(0));
    t.s(&["HSETNX", "h", "e", "5"], int(1));
    t.s(
        &["HMGET", "h", "a", "nope", "e"],
        Want::Is(R::Array(vec![R::Bulk(b"10".to_vec()), R::Nil, R::Bulk(b"5".to_vec())])),
    );
    t.s(&["HLEN", "h"], int(5));
    t.s(&["HLEN", "nothing"], int(0));
    t.s(&["HEXISTS", "h", "c"], int(1));
    t.s(&["HEXISTS", "h", "zz"], int(0));
    t.s(&["HSTRLEN", "h", "a"], int(2));
    t.s(&["HSTRLEN", "h", "zz"], int(0));
    sorted(&mut t, &["HGETALL", "h"], &["a", "10", "b", "2", "c", "3", "d", "4", "e", "5"]);
    sorted(&mut t, &["HKEYS", "h"], &["a", "b", "c", "d", "e"]);
    sorted(&mut t, &["HVALS", "h"], &["10", "2", "3", "4", "5"]);
    sorted(&mut t, &["HGETALL", "nothing"], &[]);
    t.s(&["TYPE", "h"], Want::Is(R::Status("hash".into())));

    // Increments.
    t.s(&["HINCRBY", "h", "n", "5"], int(5));
    t.s(&["HINCRBY", "h", "n", "-7"], int(-2));
    t.s(&["HINCRBY", "h", "a", "x"], error("ERR value is not an integer or out of range"));
    t.s(&["HSET", "h", "s", "abc", "max", "9223372036854775807"], int(2));
    t.s(&["HINCRBY", "h", "s", "1"], error("ERR hash value is not an integer"));
    t.s(&["HINCRBY", "h", "max", "1"], error("ERR increment or decrement would overflow"));
    t.s(&["HINCRBYFLOAT", "h", "f", "10.5"], bulk("10.5"));
    t.s(&["HINCRBYFLOAT", "h", "f", "0.1"], bulk("10.6"));
    t.s(&["HINCRBYFLOAT", "h", "s", "1"], error("ERR hash value is not a float"));
    t.s(&["HINCRBYFLOAT", "h", "f", "x"], error("ERR value is not a valid float"));

    // Deletes: repeats count once; the last field takes the key.
    t.s(&["HDEL", "h", "a", "a", "nope"], int(1));
    t.s(&["HSET", "small", "only", "1"], int(1));
    t.s(&["EXPIRE", "small", "100"], int(1));
    t.s(&["TTL", "small"], Want::Between(99, 100));
    t.s(&["HDEL", "small", "only"], int(1));
    t.s(&["EXISTS", "small"], int(0));
    t.s(&["TTL", "small"], int(-2));

    // WRONGTYPE both ways; SET replaces a hash, DEL and RENAME take one.
    t.s(&["SET", "str", "v"], ok());
    t.s(&["HSET", "str", "f", "v"], wrongtype());
    t.s(&["HGET", "str", "f"], wrongtype());
    t.s(&["HGETALL", "str"], wrongtype());
    t.s(&["HLEN", "str"], wrongtype());
    t.s(&["HDEL", "str", "f"], wrongtype());
    t.s(&["HSCAN", "str", "0"], wrongtype());
    t.s(&["GET", "h"], wrongtype());
    t.s(&["INCR", "h"], wrongtype());
    t.s(&["APPEND", "h", "x"], wrongtype());
    t.s(&["STRLEN", "h"], wrongtype());
    t.s(&["GETDEL", "h"], wrongtype());
    t.s(&["SET", "h", "v", "GET"], wrongtype());
    t.s(&["MGET", "h", "str"], Want::Is(R::Array(vec![R::Nil, R::Bulk(b"v".to_vec())])));
    t.s(&["RENAME", "h", "h2"], ok());
    t.s(&["HGET", "h2", "b"], bulk("2"));
    t.s(&["SET", "h2", "plain"], ok());
    t.s(&["GET", "h2"], bulk("plain"));
    t.s(&["HSET", "gone", "f", "v"], int(1));
    t.s(&["DEL", "gone"], int(1));

    // Arity: pairs must pair.
    t.s(&["HSET", "h", "a"], arity("hset"));
    t.s(&["HSET", "h", "a", "1", "b"], arity("hset"));
    t.s(&["HMSET", "h", "a"], arity("hmset"));
    t.s(&["HGET", "h"], arity("hget"));
    t.s(&["HSCAN", "h3", "x"], error("ERR invalid cursor"));
    println!("{} steps agreed", t.steps);
}

#[test]
fn the_crates_hash_calls_scan_and_transactions_work() {
    let dir = Scratch::new("redis-hashes-crate");
    let port = free_ports(3);
    let _synod = cluster(&dir.0, port, 3);
    let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
    let mut c = client(port);

    let fields: Vec<(String, String)> = (0..500).map(|i| (format!("field:{i}"), format!("v{i}"))).collect();
    c.hset_multiple("big", &fields).unwrap();
    let all: HashMap<String, String> = c.hgetall("big").unwrap();
    assert_eq!(all.len(), 500);
    assert_eq!(all["field:7"], "v7");
    // The crate's HSCAN iterator visits every field once an iteration ends.
    let scanned: Vec<(String, String)> = c.hscan("big").unwrap().collect::<Result<_, _>>().unwrap();
    let names: BTreeSet<&String> = scanned.iter().map(|(f, _)| f).collect();
    assert_eq!(names.len(), 500);
    let matching: Vec<(String, String)> = c.hscan_match("big", "field:1?").unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(matching.len(), 10);
    let (next, first): (u64, Vec<String>) =
        redis::cmd("HSCAN").arg("big").arg(0).arg("COUNT").arg(5).arg("NOVALUES").query(&mut c).unwrap();
    assert!(next != 0 && first.len() <= 5 && first.iter().all(|f| f.starts_with("field:")), "{next} {first:?}");
    let typed: (u64, Vec<String>) =
        redis::cmd("SCAN").arg(0).arg("COUNT").arg(100).arg("TYPE").arg("hash").query(&mut c).unwrap();
    assert_eq!(typed.1, vec!["big".to_string()]);

    // The default transactional pipeline: all of it in one entry.
    let (added, n, len): (i64, i64, i64) =
        redis::pipe().atomic().hset("tx", "a", "1").hincr("tx", "n", 41).hlen("tx").query(&mut c).unwrap();
    assert_eq!((added, n, len), (1, 41, 2));
    let err = redis::pipe().atomic().hset("tx", "b", "2").incr("tx", 1).query::<(i64, i64)>(&mut c).unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    let b: Option<String> = c.hget("tx", "b").unwrap();
    assert_eq!(b.as_deref(), Some("2"), "a run-time error leaves the rest of the transaction applied, as in Redis");
}
