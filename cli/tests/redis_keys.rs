//! `KEYS` and `SCAN` through the `redis` crate against a real cluster:
//! the crate's scan iterator visits every key once a full iteration ends,
//! and `KEYS` finds what a `redis-server` finds (sorted: Redis answers in
//! its hash table's order, synod in key order).

mod common;
mod compare;

use common::{Scratch, client, cluster, free_ports, retry};
use compare::redis_server;
use redis::TypedCommands as _;
use std::collections::BTreeSet;

fn fill(c: &mut redis::Connection) {
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.set(format!("user:{i}"), i).ignore();
    }
    for i in 0..40 {
        pipe.set(format!("order:{i}"), i).ignore();
    }
    let _: () = pipe.query(c).unwrap();
}

fn keys(c: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut k: Vec<String> = redis::cmd("KEYS").arg(pattern).query(c).unwrap();
    k.sort();
    k
}

#[test]
fn scan_visits_every_key_and_keys_matches_as_redis_does() {
    let dir = Scratch::new("redis-keys");
    let port = free_ports(3);
    let _synod = cluster(&dir.0, port, 3);
    let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
    let mut s = client(port);
    fill(&mut s);
    let scanned: Vec<String> = s.scan_match("order:*").unwrap().collect::<Result<_, _>>().unwrap();
    let unique: BTreeSet<&String> = scanned.iter().collect();
    assert_eq!(unique.len(), 40, "{scanned:?}");
    let all: BTreeSet<String> = s.scan().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 341);
    // COUNT bounds the work of one call; the cursor goes on from there.
    let (next, first): (u64, Vec<String>) = redis::cmd("SCAN").arg(0).arg("COUNT").arg(5).query(&mut s).unwrap();
    assert!(next != 0 && first.len() <= 5, "{next} {first:?}");
    let typed: (u64, Vec<String>) = redis::cmd("SCAN").arg(0).arg("TYPE").arg("hash").query(&mut s).unwrap();
    assert!(typed.1.is_empty());
    let bad: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN").arg("x").query(&mut s);
    assert!(bad.unwrap_err().to_string().contains("invalid cursor"));

    let patterns = ["user:1?", "order:*", "user:[12]0", "*:3*", "nothing*"];
    match redis_server(&dir.0) {
        Some((_proc, mut r, _)) => {
            fill(&mut r);
            let _: () = redis::cmd("SET").arg("warmup").arg("1").query(&mut r).unwrap();
            for p in patterns {
                assert_eq!(keys(&mut s, p), keys(&mut r, p), "KEYS {p}");
            }
        }
        None => println!("redis-server is not installed: checking synod's replies alone, without comparing with Redis"),
    }
    assert_eq!(keys(&mut s, "user:1?").len(), 10);
}
