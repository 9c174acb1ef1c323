//! The everyday string and key commands, driven through the `redis` crate
//! against a real `synod cluster`: every reply checked against what Redis 7
//! answers, and, where a `redis-server` is installed, compared command by
//! command with one started here (its `proto-max-bulk-len` set to synod's
//! value limit, 1 MiB, so the size refusals line up too).

mod common;
mod compare;

use common::client;
use compare::{R, Servers, Want, bulk, error, int, nil, ok, run, unix_s};
use core::time::Duration;
use std::time::Instant;

#[test]
fn string_and_key_commands_answer_as_redis_does() {
    let servers = Servers::start("redis-strings");
    let mut t = servers.session(1, client);
    let syntax = || error("ERR syntax error");
    let not_int = || error("ERR value is not an integer or out of range");
    let not_float = || error("ERR value is not a valid float");
    let too_long = || error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

    // SET and its options.
    t.s(&["SET", "a", "1"], ok());
    t.s(&["SET", "a", "2", "NX"], nil());
    t.s(&["SET", "a", "3", "XX"], ok());
    t.s(&["SET", "b", "1", "XX"], nil());
    t.s(&["SET", "a", "4", "XX", "NX"], syntax());
    t.s(&["SET", "a", "5", "GET"], bulk("3"));
    t.s(&["SET", "nk", "1", "NX", "GET"], nil());
    t.s(&["SET", "nk", "2", "NX", "GET"], bulk("1"));
    t.s(&["GET", "nk"], bulk("1"));
    t.s(&["SET", "a", "v", "EX", "0"], error("ERR invalid expire time in 'set' command"));
    t.s(&["SET", "a", "v", "PX", "-1"], error("ERR invalid expire time in 'set' command"));
    t.s(&["SET", "a", "v", "EX", "9223372036854775807"], error("ERR invalid expire time in 'set' command"));
    t.s(&["SET", "a", "v", "EX", "abc"], not_int());
    t.s(&["SET", "a", "v", "EX", "10", "PX", "100"], syntax());
    t.s(&["SET", "a", "v", "KEEPTTL", "EX", "10"], syntax());
    t.s(&["SET", "a", "v", "EX"], syntax());
    t.s(&["SET", "a", "v", "FOO"], syntax());
    t.s(&["SET", "a"], error("ERR wrong number of arguments for 'set' command"));
    t.s(&["SET", "t", "v", "EX", "100"], ok());
    t.s(&["TTL", "t"], Want::Between(99, 100));
    t.s(&["PTTL", "t"], Want::Between(98_000, 100_000));
    t.s(&["SET", "t", "w", "KEEPTTL"], ok());
    t.s(&["TTL", "t"], Want::Between(99, 100));
    t.s(&["SET", "t", "x"], ok());
    t.s(&["TTL", "t"], int(-1));
    t.s(&["SET", "t", "y", "PX", "100000", "GET"], bulk("x"));
    t.s(&["TTL", "t"], Want::Between(99, 100));
    let at = unix_s() + 100;
    t.s(&["SET", "t", "z", "EXAT", &at.to_string()], ok());
    t.s(&["TTL", "t"], Want::Between(98, 100));
    t.s(&["EXPIRETIME", "t"], Want::Between(at - 1, at + 1));
    t.s(&["SET", "t", "z", "PXAT", &(at * 1000).to_string()], ok());
    t.s(&["PEXPIRETIME", "t"], Want::Between(at * 1000 - 1_000, at * 1000 + 2_000));
    t.s(&["SET", "t", "z", "EXAT", "1"], ok());
    t.s(&["GET", "t"], nil());
    t.s(&["SETNX", "n", "1"], int(1));
    t.s(&["SETNX", "n", "2"], int(0));
    t.s(&["GET", "n"], bulk("1"));
    t.s(&["SETEX", "s", "100", "v"], ok());
    t.s(&["TTL", "s"], Want::Between(99, 100));
    t.s(&["SETEX", "s", "0", "v"], error("ERR invalid expire time in 'setex' command"));
    t.s(&["SETEX", "s", "x", "v"], not_int());
    t.s(&["SETEX", "s", "1"], error("ERR wrong number of arguments for 'setex' command"));
    t.s(&["PSETEX", "p", "100000", "v"], ok());
    t.s(&["PTTL", "p"], Want::Between(98_000, 100_000));
    t.s(&["PSETEX", "p", "-5", "v"], error("ERR invalid expire time in 'psetex' command"));
    t.s(&["GETSET", "g", "1"], nil());
    t.s(&["GETSET", "g", "2"], bulk("1"));
    t.s(&["GETDEL", "g"], bulk("2"));
    t.s(&["GETDEL", "g"], nil());

    // GETEX.
    t.s(&["GETEX", "g"], nil());
    t.s(&["SET", "g", "v", "EX", "100"], ok());
    t.s(&["GETEX", "g"], bulk("v"));
    t.s(&["GETEX", "g", "PERSIST"], bulk("v"));
    t.s(&["TTL", "g"], int(-1));
    t.s(&["GETEX", "g", "EX", "50"], bulk("v"));
    t.s(&["TTL", "g"], Want::Between(49, 50));
    t.s(&["GETEX", "g", "PX", "70000"], bulk("v"));
    t.s(&["TTL", "g"], Want::Between(69, 70));
    t.s(&["GETEX", "g", "EX", "0"], error("ERR invalid expire time in 'getex' command"));
    t.s(&["GETEX", "missing", "EX", "0"], nil());
    t.s(&["GETEX", "g", "KEEPTTL"], syntax());
    t.s(&["GETEX", "g", "EX", "10", "PERSIST"], syntax());
    t.s(&["GETEX", "g", "PXAT", "1"], bulk("v"));
    t.s(&["EXISTS", "g"], int(0));

    // MSET, MSETNX.
    t.s(&["MSET", "m1", "a", "m2", "b"], ok());
    t.s(&["MGET", "m1", "m2", "m0"], Want::Is(R::Array(vec![R::Bulk(b"a".to_vec()), R::Bulk(b"b".to_vec()), R::Nil])));
    t.s(&["MSET", "m1"], error("ERR wrong number of arguments for 'mset' command"));
    t.s(&["MSET", "m1", "a", "m2"], error("ERR wrong number of arguments for 'mset' command"));
    t.s(&["MSETNX", "m2", "x", "m3", "y"], int(0));
    t.s(&["EXISTS", "m3"], int(0));
    t.s(&["MSETNX", "m3", "y", "m4", "z"], int(1));
    t.s(&["MGET", "m3", "m4"], Want::Is(R::Array(vec![R::Bulk(b"y".to_vec()), R::Bulk(b"z".to_vec())])));

    // APPEND, STRLEN, GETRANGE, SETRANGE.
    t.s(&["APPEND", "ap", "Hello"], int(5));
    t.s(&["APPEND", "ap", " World"], int(11));
    t.s(&["GET", "ap"], bulk("Hello World"));
    t.s(&["STRLEN", "ap"], int(11));
    t.s(&["STRLEN", "none"], int(0));
    t.s(&["GETRANGE", "ap", "0", "4"], bulk("Hello"));
    t.s(&["GETRANGE", "ap", "-5", "-1"], bulk("World"));
    t.s(&["GETRANGE", "ap", "0", "-1"], bulk("Hello World"));
    t.s(&["GETRANGE", "ap", "10", "100"], bulk("d"));
    t.s(&["GETRANGE", "ap", "-100", "-50"], bulk("H"));
    t.s(&["GETRANGE", "ap", "5", "3"], bulk(""));
    t.s(&["GETRANGE", "none", "0", "-1"], bulk(""));
    t.s(&["GETRANGE", "ap", "a", "1"], not_int());
    t.s(&["SETRANGE", "sr", "6", "Redis"], int(11));
    t.s(&["GET", "sr"], Want::Is(R::Bulk(b"\0\0\0\0\0\0Redis".to_vec())));
    t.s(&["SET", "sr", "Hello World"], ok());
    t.s(&["SETRANGE", "sr", "6", "Redis"], int(11));
    t.s(&["GET", "sr"], bulk("Hello Redis"));
    t.s(&["SETRANGE", "sr", "-1", "x"], error("ERR offset is out of range"));
    t.s(&["SETRANGE", "empty", "5", ""], int(0));
    t.s(&["EXISTS", "empty"], int(0));
    t.s(&["SETRANGE", "sr", "1048576", "x"], too_long());
    t.s(&["SETRANGE", "sr", "9223372036854775807", "x"], too_long());
    t.s(&["SETRANGE", "full", "1048575", "x"], int(1_048_576));
    t.s(&["APPEND", "full", "x"], too_long());
    t.s(&["STRLEN", "full"], int(1_048_576));
    let nearly = vec![b'x'; (1 << 20) - 6];
    t.step(&[b"SET", b"big", &nearly], ok());
    t.s(&["APPEND", "big", "0123456789"], too_long());
    t.s(&["APPEND", "big", "012345"], int(1_048_576));
    t.s(&["DEL", "full", "big"], int(2));

    // Increments.
    t.s(&["INCR", "i"], int(1));
    t.s(&["INCRBY", "i", "10"], int(11));
    t.s(&["DECR", "i"], int(10));
    t.s(&["DECRBY", "i", "3"], int(7));
    t.s(&["DECRBY", "i", "-9223372036854775808"], error("ERR decrement would overflow"));
    t.s(&["INCRBY", "i", "abc"], not_int());
    t.s(&["INCRBY", "i", "+5"], not_int());
    t.s(&["SET", "lead", "05"], ok());
    t.s(&["INCR", "lead"], not_int());
    t.s(&["DEL", "lead"], int(1));
    t.s(&["SET", "i", "9223372036854775807"], ok());
    t.s(&["INCR", "i"], error("ERR increment or decrement would overflow"));
    t.s(&["SET", "i", "x"], ok());
    t.s(&["INCR", "i"], not_int());
    t.s(&["SET", "it", "1", "EX", "100"], ok());
    t.s(&["INCR", "it"], int(2));
    t.s(&["TTL", "it"], Want::Between(99, 100));
    t.s(&["INCRBYFLOAT", "f", "10.50"], bulk("10.5"));
    t.s(&["INCRBYFLOAT", "f", "0.1"], bulk("10.6"));
    t.s(&["INCRBYFLOAT", "f", "-5"], bulk("5.6"));
    t.s(&["SET", "f", "5.0e3"], ok());
    t.s(&["INCRBYFLOAT", "f", "2.0e2"], bulk("5200"));
    t.s(&["INCRBYFLOAT", "f", "abc"], not_float());
    t.s(&["INCRBYFLOAT", "f", "nan"], not_float());
    t.s(&["INCRBYFLOAT", "f", "inf"], error("ERR increment would produce NaN or Infinity"));
    t.s(&["SET", "f", "abc"], ok());
    t.s(&["INCRBYFLOAT", "f", "1"], not_float());
    t.s(&["SET", "ft", "1", "EX", "100"], ok());
    t.s(&["INCRBYFLOAT", "ft", "0.5"], bulk("1.5"));
    t.s(&["TTL", "ft"], Want::Between(99, 100));

    // EXPIRE and its kin.
    t.s(&["SET", "e", "v"], ok());
    t.s(&["EXPIRE", "e", "100", "XX"], int(0));
    t.s(&["EXPIRE", "e", "100", "GT"], int(0));
    t.s(&["EXPIRE", "e", "100"], int(1));
    t.s(&["TTL", "e"], Want::Between(99, 100));
    t.s(&["EXPIRE", "e", "50", "NX"], int(0));
    t.s(&["EXPIRE", "e", "200", "GT"], int(1));
    t.s(&["TTL", "e"], Want::Between(199, 200));
    t.s(&["EXPIRE", "e", "300", "LT"], int(0));
    t.s(&["EXPIRE", "e", "100", "XX", "LT"], int(1));
    t.s(&["TTL", "e"], Want::Between(99, 100));
    t.s(
        &["EXPIRE", "e", "10", "NX", "XX"],
        error("ERR NX and XX, GT or LT options at the same time are not compatible"),
    );
    t.s(&["EXPIRE", "e", "10", "GT", "LT"], error("ERR GT and LT options at the same time are not compatible"));
    t.s(&["EXPIRE", "e", "10", "FOO"], error("ERR Unsupported option FOO"));
    t.s(&["EXPIRE", "e", "abc"], not_int());
    t.s(&["EXPIRE", "e", "9223372036854775807"], error("ERR invalid expire time in 'expire' command"));
    t.s(&["PEXPIRE", "e", "9223372036854775807"], error("ERR invalid expire time in 'pexpire' command"));
    t.s(&["EXPIRE", "none", "10"], int(0));
    t.s(&["PEXPIRE", "e", "100000"], int(1));
    t.s(&["PTTL", "e"], Want::Between(98_000, 100_000));
    let at = unix_s() + 100;
    t.s(&["EXPIREAT", "e", &at.to_string()], int(1));
    t.s(&["TTL", "e"], Want::Between(98, 100));
    t.s(&["EXPIRETIME", "e"], Want::Between(at - 1, at + 1));
    t.s(&["PEXPIREAT", "e", &(at * 1000).to_string()], int(1));
    t.s(&["PEXPIRETIME", "e"], Want::Between(at * 1000 - 1_000, at * 1000 + 2_000));
    t.s(&["PERSIST", "e"], int(1));
    t.s(&["PERSIST", "e"], int(0));
    t.s(&["PERSIST", "none"], int(0));
    t.s(&["TTL", "e"], int(-1));
    t.s(&["EXPIRETIME", "e"], int(-1));
    t.s(&["TTL", "none"], int(-2));
    t.s(&["PTTL", "none"], int(-2));
    t.s(&["PEXPIRETIME", "none"], int(-2));
    t.s(&["EXPIRE", "e", "0"], int(1));
    t.s(&["EXISTS", "e"], int(0));
    t.s(&["SET", "e", "v"], ok());
    t.s(&["EXPIREAT", "e", "1"], int(1));
    t.s(&["GET", "e"], nil());
    t.s(&["SET", "e", "v"], ok());
    t.s(&["PEXPIRE", "e", "-10", "LT"], int(1));
    t.s(&["EXISTS", "e"], int(0));

    // TYPE, RENAME, DEL, UNLINK, EXISTS, DBSIZE.
    t.s(&["TYPE", "ap"], Want::Is(R::Status("string".into())));
    t.s(&["TYPE", "none"], Want::Is(R::Status("none".into())));
    t.s(&["RENAME", "none", "x"], error("ERR no such key"));
    t.s(&["RENAMENX", "none", "x"], error("ERR no such key"));
    t.s(&["SET", "r1", "a", "EX", "100"], ok());
    t.s(&["SET", "r2", "b"], ok());
    t.s(&["RENAME", "r1", "r2"], ok());
    t.s(&["GET", "r2"], bulk("a"));
    t.s(&["TTL", "r2"], Want::Between(99, 100));
    t.s(&["EXISTS", "r1"], int(0));
    t.s(&["RENAMENX", "r2", "r3"], int(1));
    t.s(&["SET", "r4", "c"], ok());
    t.s(&["RENAMENX", "r3", "r4"], int(0));
    t.s(&["RENAME", "r3", "r3"], ok());
    t.s(&["RENAMENX", "r3", "r3"], int(0));
    t.s(&["MSET", "d1", "1", "d2", "2"], ok());
    t.s(&["DEL", "d1", "d2", "d1", "d3"], int(2));
    t.s(&["UNLINK", "x", "y"], int(0));
    t.s(&["DEL"], error("ERR wrong number of arguments for 'del' command"));
    t.s(&["EXISTS", "ap", "ap", "none"], int(2));
    t.s(&["TTL"], error("ERR wrong number of arguments for 'ttl' command"));
    t.s(&["DBSIZE"], int(17));

    // A TTL runs out, inside the log, on its own.
    t.s(&["SET", "px", "v", "PX", "300"], ok());
    t.s(&["GET", "px"], bulk("v"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if run(&mut t.synod, &[b"EXISTS".to_vec(), b"px".to_vec()]) == R::Int(0) {
            break;
        }
        assert!(Instant::now() < deadline, "a 300 ms TTL did not end within 10 s");
    }
    t.s(&["GET", "px"], nil());
    t.s(&["TTL", "px"], int(-2));

    // COMMAND lists what is served.
    let count = run(&mut t.synod, &[b"COMMAND".to_vec(), b"COUNT".to_vec()]);
    assert!(matches!(count, R::Int(n) if n >= 50), "{count:?}");
    let info = run(&mut t.synod, &[b"COMMAND".to_vec(), b"INFO".to_vec(), b"getex".to_vec(), b"nosuch".to_vec()]);
    let R::Array(items) = info else { panic!("{info:?}") };
    assert!(
        matches!(&items[..], [R::Array(getex), R::Nil] if getex[0] == R::Bulk(b"getex".to_vec()) && getex[1] == R::Int(-2))
    );
    // COMMAND DOCS: a doc for each served command asked about (unknown
    // ones left out), grouped as Redis groups it; LIST names every one.
    let docs = |c: &mut redis::Connection, names: &[&str]| {
        let mut args = vec![b"COMMAND".to_vec(), b"DOCS".to_vec()];
        args.extend(names.iter().map(|n| n.as_bytes().to_vec()));
        let R::Array(items) = run(c, &args) else { panic!("COMMAND DOCS is not an array") };
        items
            .chunks(2)
            .map(|p| {
                let R::Array(doc) = &p[1] else { panic!("{:?}", p[1]) };
                let group = doc.chunks(2).find(|kv| kv[0] == R::Bulk(b"group".to_vec())).map(|kv| kv[1].clone());
                (p[0].clone(), group)
            })
            .collect::<Vec<_>>()
    };
    let ours = docs(&mut t.synod, &["get", "hset", "del", "multi", "nosuch"]);
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert_eq!(ours[1], (R::Bulk(b"hset".to_vec()), Some(R::Bulk(b"hash".to_vec()))));
    if let Some(r) = &mut t.redis {
        let theirs = docs(r, &["get", "hset", "del", "multi", "nosuch"]);
        assert_eq!(ours, theirs, "COMMAND DOCS groups differ from redis-server's");
    }
    let R::Array(all) = run(&mut t.synod, &[b"COMMAND".to_vec(), b"LIST".to_vec()]) else { panic!() };
    assert_eq!(R::Int(all.len() as i64), count);
    assert_eq!(docs(&mut t.synod, &[]).len(), all.len(), "DOCS alone documents every command");
    println!("{} steps answered as Redis 7 answers", t.steps);
}
