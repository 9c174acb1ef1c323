//! `MULTI`/`EXEC`/`DISCARD` and `WATCH`/`UNWATCH` through the `redis`
//! crate against a real 3-node `synod cluster`: Redis's rules step by step
//! (compared with a `redis-server` started here where one is installed),
//! the crate's default atomic pipeline, and optimistic locking under
//! contention from connections to every node.

mod common;
mod compare;

use common::{Scratch, client, cluster, free_ports, retry};
use compare::{R, Servers, Session, Want, bulk, error, int, nil, ok};
use std::sync::{Arc, Barrier};

fn queued() -> Want {
    Want::Is(R::Status("QUEUED".into()))
}

fn array(items: Vec<R>) -> Want {
    Want::Is(R::Array(items))
}

fn b(s: &str) -> R {
    R::Bulk(s.as_bytes().to_vec())
}

#[test]
fn transactions_answer_as_redis_does_and_watch_aborts_on_any_change() {
    let servers = Servers::start("redis-tx");
    let mut t = servers.session(1, client);
    // Another client, on another node: its writes are what WATCH watches for.
    let mut other = servers.session(2, client);

    // Commands queue, then run in order, each seeing the ones before.
    t.s(&["MULTI"], ok());
    t.s(&["SET", "a", "1"], queued());
    t.s(&["INCR", "a"], queued());
    t.s(&["GET", "a"], queued());
    t.s(&["PING"], queued());
    t.s(&["EXEC"], array(vec![R::Status("OK".into()), R::Int(2), b("2"), R::Status("PONG".into())]));
    t.s(&["MULTI"], ok());
    t.s(&["EXEC"], array(vec![]));

    // An error at EXEC time is that command's answer; the rest run.
    t.s(&["SET", "s", "text"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["INCR", "s"], queued());
    t.s(&["SET", "x", "1", "EX", "soon"], queued());
    t.s(&["APPEND", "s", "!"], queued());
    // (The crate answers an EXEC holding an error with its first error.)
    t.s(&["EXEC"], error("ERR value is not an integer or out of range"));
    t.s(&["GET", "s"], bulk("text!"));
    t.s(&["EXISTS", "x"], int(0));

    // An error while queueing discards the whole transaction.
    t.s(&["MULTI"], ok());
    t.s(&["SET", "a", "100"], queued());
    t.s(&["SET", "a"], error("ERR wrong number of arguments for 'set' command"));
    t.s(&["EXEC"], error("EXECABORT Transaction discarded because of previous errors."));
    t.s(&["GET", "a"], bulk("2"));

    // Misuse that is an error of its own, not the transaction's.
    t.s(&["EXEC"], error("ERR EXEC without MULTI"));
    t.s(&["DISCARD"], error("ERR DISCARD without MULTI"));
    t.s(&["MULTI"], ok());
    t.s(&["MULTI"], error("ERR MULTI calls can not be nested"));
    t.s(&["WATCH", "a"], error("ERR WATCH inside MULTI is not allowed"));
    t.s(&["INCR", "a"], queued());
    t.s(&["EXEC"], array(vec![R::Int(3)]));
    t.s(&["WATCH"], error("ERR wrong number of arguments for 'watch' command"));

    // DISCARD drops the queue.
    t.s(&["MULTI"], ok());
    t.s(&["SET", "a", "dropped"], queued());
    t.s(&["DISCARD"], ok());
    t.s(&["GET", "a"], bulk("3"));

    // WATCH: another client's write aborts; nothing runs.
    t.s(&["WATCH", "w"], ok());
    other.s(&["SET", "w", "theirs"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["SET", "w", "mine"], queued());
    t.s(&["EXEC"], nil());
    t.s(&["GET", "w"], bulk("theirs"));
    // Unchanged: it runs, and EXEC forgets the watch.
    t.s(&["WATCH", "w", "absent"], ok());
    other.s(&["SET", "unrelated", "1"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["SET", "w", "mine"], queued());
    t.s(&["EXEC"], array(vec![R::Status("OK".into())]));
    other.s(&["SET", "w", "theirs"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["GET", "w"], queued());
    t.s(&["EXEC"], array(vec![b("theirs")]));
    // Each kind of change aborts: the same value, a delete, a TTL, a key
    // created where none was; the client's own write too.
    for change in [
        &["SET", "w", "theirs"][..],
        &["EXPIRE", "w", "100"],
        &["PERSIST", "w"],
        &["DEL", "w"],
        &["SET", "w", "back"],
        &["RENAME", "w", "w2"],
        &["SET", "w", "again"],
        &["FLUSHALL"],
    ] {
        t.s(&["WATCH", "w"], ok());
        other.s(change, Want::Any);
        t.s(&["MULTI"], ok());
        t.s(&["SET", "x", "1"], queued());
        t.s(&["EXEC"], nil());
    }
    t.s(&["WATCH", "x"], ok());
    t.s(&["SET", "x", "own"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["GET", "x"], queued());
    t.s(&["EXEC"], nil());
    // UNWATCH, and DISCARD, forget the watched keys.
    t.s(&["WATCH", "x"], ok());
    t.s(&["UNWATCH"], ok());
    other.s(&["SET", "x", "theirs"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["GET", "x"], queued());
    t.s(&["EXEC"], array(vec![b("theirs")]));
    t.s(&["WATCH", "x"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["DISCARD"], ok());
    other.s(&["SET", "x", "again"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["GET", "x"], queued());
    t.s(&["EXEC"], array(vec![b("again")]));

    // The crate's atomic pipeline: MULTI … EXEC in one round trip.
    let (n, v): (i64, String) =
        redis::pipe().atomic().set("p", "10").ignore().incr("p", 5).get("p").query(&mut t.synod).unwrap();
    assert_eq!((n, v.as_str()), (15, "15"));
    println!("{} steps agreed", t.steps + other.steps);
}

#[test]
fn synod_refuses_locks_and_connection_commands_inside_a_transaction() {
    let dir = Scratch::new("redis-tx-refusals");
    let port = free_ports(3);
    let _synod = cluster(&dir.0, port, 1);
    let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
    let mut t = Session { synod: client(port), redis: None, steps: 0 };
    let lease = match compare::run(&mut t.synod, &[b"LEASE".to_vec(), b"GRANT".to_vec(), b"10000".to_vec()]) {
        R::Int(id) => id.to_string(),
        other => panic!("no lease: {other:?}"),
    };
    let refused = || error("ERR Command not allowed inside a transaction");
    for cmd in [&["LOCK", "l", &lease][..], &["LEASE", "REVOKE", &lease], &["CLIENT", "SETNAME", "x"], &["AUTH", "pw"]]
    {
        t.s(&["MULTI"], ok());
        t.s(&["SET", "k", "1"], queued());
        t.s(cmd, refused());
        t.s(&["EXEC"], error("EXECABORT Transaction discarded because of previous errors."));
        t.s(&["EXISTS", "k"], int(0));
    }
    // A lease renewed and keys written under TTLs: allowed.
    t.s(&["MULTI"], ok());
    t.s(&["LEASE", "KEEPALIVE", &lease], queued());
    t.s(&["SET", "k", "1", "PX", "60000"], queued());
    t.s(&["EXEC"], array(vec![R::Int(lease.parse().unwrap()), R::Status("OK".into())]));
}

/// A transaction's queue is bounded before anything is proposed: at most
/// 4,096 commands and the request limit in argument bytes. The command
/// past either bound is refused while queueing, so `EXEC` discards all.
#[test]
fn a_queue_past_its_bounds_is_refused_while_queueing() {
    let dir = Scratch::new("redis-tx-bounds");
    let port = free_ports(3);
    let _synod = common::cluster_with(&dir.0, port, 1, &["--max-request-bytes", "8192"]);
    let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
    let mut c = client(port);
    let mut raw = common::Raw::connect(port);
    let too_large = |t: &str| t.starts_with("ERR transaction too large");

    // Pipelined: MULTI, 4,097 INCRs, EXEC, all sent before any reply.
    let mut batch = common::encode(&[b"MULTI"]);
    for _ in 0..4097 {
        batch.extend(common::encode(&[b"INCR", b"n"]));
    }
    batch.extend(common::encode(&[b"EXEC"]));
    raw.send(&batch).unwrap();
    let replies: Vec<String> = (0..4099).map(|_| common::text(&raw.reply().expect("a reply"))).collect();
    assert_eq!(replies.iter().filter(|r| *r == "QUEUED").count(), 4096, "4,096 commands queue");
    assert!(too_large(&replies[4097]), "the 4,097th is refused: {}", replies[4097]);
    assert!(replies[4098].starts_with("EXECABORT"), "EXEC discards: {}", replies[4098]);
    let n: Option<i64> = redis::cmd("GET").arg("n").query(&mut c).unwrap();
    assert_eq!(n, None, "nothing ran");

    // Bytes: two 5,000-byte values pass the 8,192-byte request limit.
    let value = vec![b'v'; 5000];
    assert_eq!(common::text(&raw.call(&[b"MULTI"])), "OK");
    assert_eq!(common::text(&raw.call(&[b"SET", b"a", &value])), "QUEUED");
    let second = common::text(&raw.call(&[b"SET", b"b", &value]));
    assert!(too_large(&second), "{second}");
    assert!(common::text(&raw.call(&[b"EXEC"])).starts_with("EXECABORT"));
    let exists: i64 = redis::cmd("EXISTS").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

/// Optimistic locking under contention: clients on every node each add 1
/// to a counter `ROUNDS` times with WATCH / GET / MULTI / SET / EXEC,
/// retrying when EXEC answers nil. Every increment lands exactly once: the
/// counter ends at clients × rounds. Without the WATCH check, concurrent
/// read-modify-writes overwrite each other and it ends lower.
#[test]
fn watch_makes_concurrent_read_modify_writes_lose_nothing() {
    const CLIENTS: usize = 6;
    const ROUNDS: usize = 25;
    let dir = Scratch::new("redis-tx-contention");
    let port = free_ports(3);
    let _synod = cluster(&dir.0, port, 3);
    let _: () = retry(port, redis::cmd("SET").arg("counter").arg("0"));
    let start = Arc::new(Barrier::new(CLIENTS));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut c = client(port + (i % 3) as u16);
                start.wait();
                let mut aborted = 0;
                for _ in 0..ROUNDS {
                    loop {
                        let _: () = redis::cmd("WATCH").arg("counter").query(&mut c).unwrap();
                        let n: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
                        let done: Option<(String,)> =
                            redis::pipe().atomic().set("counter", n + 1).query(&mut c).unwrap();
                        if done.is_some() {
                            break;
                        }
                        aborted += 1;
                    }
                }
                aborted
            })
        })
        .collect();
    let aborted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let n: i64 = redis::cmd("GET").arg("counter").query(&mut client(port)).unwrap();
    println!("{} increments, {aborted} transactions aborted by WATCH and retried", CLIENTS * ROUNDS);
    assert_eq!(n, (CLIENTS * ROUNDS) as i64);
    assert!(aborted > 0, "the clients never contended: the test shows nothing");
}
