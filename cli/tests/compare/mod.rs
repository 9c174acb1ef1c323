//! Replies from synod and from a real `redis-server`, compared step by
//! step: the harness the Redis-compatibility tests share.
#![allow(dead_code)] // each test binary uses part of it

use crate::common::{Proc, Scratch, client, cluster, free_ports, retry};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// A reply, in a form two servers' answers compare in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum R {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Status(String),
    Array(Vec<R>),
    Map(Vec<(R, R)>),
    Err(String),
}

/// What a step must answer.
pub enum Want {
    /// Exactly this, from synod and from Redis alike.
    Is(R),
    /// An integer in this range (a TTL, which time moves).
    Between(i64, i64),
    /// Anything that is not an error (a step whose effect is what counts).
    Any,
}

pub fn ok() -> Want {
    Want::Is(R::Status("OK".into()))
}
pub fn int(n: i64) -> Want {
    Want::Is(R::Int(n))
}
pub fn bulk(s: &str) -> Want {
    Want::Is(R::Bulk(s.as_bytes().to_vec()))
}
pub fn nil() -> Want {
    Want::Is(R::Nil)
}
pub fn error(s: &str) -> Want {
    Want::Is(R::Err(s.into()))
}

pub fn convert(v: redis::Value) -> R {
    match v {
        redis::Value::Nil => R::Nil,
        redis::Value::Int(n) => R::Int(n),
        redis::Value::BulkString(b) => R::Bulk(b),
        redis::Value::SimpleString(s) => R::Status(s),
        redis::Value::Okay => R::Status("OK".into()),
        redis::Value::Array(items) => R::Array(items.into_iter().map(convert).collect()),
        redis::Value::Map(pairs) => R::Map(pairs.into_iter().map(|(k, v)| (convert(k), convert(v))).collect()),
        redis::Value::ServerError(e) => R::Err(format!("{} {}", e.code(), e.details().unwrap_or(""))),
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn run(c: &mut redis::Connection, args: &[Vec<u8>]) -> R {
    let mut cmd = redis::cmd(&String::from_utf8_lossy(&args[0]));
    for a in &args[1..] {
        cmd.arg(&a[..]);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => convert(v),
        Err(e) => match e.code() {
            Some(code) => R::Err(format!("{code} {}", e.detail().unwrap_or(""))),
            None => panic!("{:?}: {e}", String::from_utf8_lossy(&args[0])),
        },
    }
}

pub fn unix_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A `redis-server` on a free port, if one is installed: the process, a
/// connection and the port.
pub fn redis_server(dir: &std::path::Path) -> Option<(Proc, redis::Connection, u16)> {
    let Ok(found) = Command::new("which").arg("redis-server").output() else { return None };
    if !found.status.success() {
        return None;
    }
    let port = free_ports(1);
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--proto-max-bulk-len", "1mb"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let proc = Proc(child);
    let mut c = client(port);
    assert_eq!(run(&mut c, &[b"FLUSHALL".to_vec()]), R::Status("OK".into()));
    Some((proc, c, port))
}

/// [`redis_server`], or a note that replies are checked without Redis:
/// the process (kept alive by the caller) and its port.
pub fn maybe_redis(dir: &std::path::Path) -> (Option<Proc>, Option<u16>) {
    match redis_server(dir) {
        Some((p, _, port)) => (Some(p), Some(port)),
        None => {
            println!("redis-server is not installed: checking synod's replies alone, without comparing with Redis");
            (None, None)
        }
    }
}

/// A three-node `synod cluster` that has taken a first write (removed
/// again, so both servers start empty), and a `redis-server` beside it
/// where one is installed. The processes live as long as this does.
pub struct Servers {
    /// Node 1's RESP port; node N's is this + N - 1.
    pub port: u16,
    /// The `redis-server`'s port, if one runs.
    pub redis_port: Option<u16>,
    _synod: Proc,
    _redis: Option<Proc>,
    _dir: Scratch,
}

impl Servers {
    /// Starts both for test `name`.
    pub fn start(name: &str) -> Servers {
        let dir = Scratch::new(name);
        let port = free_ports(3);
        let synod = cluster(&dir.0, port, 3);
        let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
        let _: () = retry(port, redis::cmd("DEL").arg("warmup"));
        let (redis, redis_port) = maybe_redis(&dir.0);
        Servers { port, redis_port, _synod: synod, _redis: redis, _dir: dir }
    }

    /// A session on synod's node `node` (1-based) and on Redis, each
    /// connected by `connect`.
    pub fn session(&self, node: u16, connect: fn(u16) -> redis::Connection) -> Session {
        Session { synod: connect(self.port + node - 1), redis: self.redis_port.map(connect), steps: 0 }
    }
}

/// Runs each step on synod (and Redis, if there), checking every reply.
pub struct Session {
    pub synod: redis::Connection,
    pub redis: Option<redis::Connection>,
    pub steps: usize,
}

impl Session {
    pub fn step(&mut self, args: &[&[u8]], want: Want) {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let shown = args.iter().map(|a| String::from_utf8_lossy(&a[..a.len().min(40)])).collect::<Vec<_>>().join(" ");
        let got = run(&mut self.synod, &args);
        check(&format!("synod: {shown}"), &got, &want);
        if let Some(r) = &mut self.redis {
            let theirs = run(r, &args);
            check(&format!("redis-server: {shown}"), &theirs, &want);
            if let Want::Is(_) = want {
                assert_eq!(got, theirs, "synod and redis-server differ on {shown}");
            }
        }
        self.steps += 1;
    }

    pub fn s(&mut self, args: &[&str], want: Want) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.step(&args, want);
    }
}

pub fn check(what: &str, got: &R, want: &Want) {
    match want {
        Want::Is(r) => assert_eq!(got, r, "{what}"),
        Want::Any => assert!(!matches!(got, R::Err(_)), "{what}: {got:?}"),
        Want::Between(lo, hi) => match got {
            R::Int(n) => assert!((lo..=hi).contains(&n), "{what}: {n} not in {lo}..={hi}"),
            other => panic!("{what}: {other:?} is not an integer"),
        },
    }
}
