//! Concurrent RESP clients that record every invocation and completion,
//! a ledger of write-once keys, and lock clients collecting fencing tokens.

use crate::history::{History, Op, Outcome, Ret, Value};
use core::net::SocketAddr;
use core::time::Duration;
use redis::{Connection, RedisError};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use synod_core::rand::Rng;

/// A lock grant a client received.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The lock.
    pub lock: String,
    /// The holder's lease.
    pub lease: i64,
    /// When the acquire was sent.
    pub invoked: u64,
    /// When the grant arrived.
    pub completed: u64,
    /// Its fencing token.
    pub token: i64,
}

/// Shared between client threads.
pub struct Shared {
    /// Time zero of the history.
    pub start: Instant,
    /// Every node's RESP address.
    pub nodes: Vec<SocketAddr>,
    /// The KV history.
    pub history: Mutex<History>,
    /// Ledger keys whose write was acknowledged.
    pub ledger: Mutex<Vec<u64>>,
    /// Lock grants seen.
    pub grants: Mutex<Vec<Grant>>,
    /// Stop issuing new requests after this.
    pub until: Instant,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

fn connect(addr: SocketAddr) -> Option<Connection> {
    connect_with(addr, Duration::from_millis(1500))
}

/// Connects to `addr`, waiting at most `timeout` for each answer.
pub fn connect_with(addr: SocketAddr, timeout: Duration) -> Option<Connection> {
    let c = redis::Client::open(format!("redis://{addr}/")).ok()?;
    let conn = c.get_connection_with_timeout(Duration::from_millis(500)).ok()?;
    conn.set_read_timeout(Some(timeout)).ok()?;
    conn.set_write_timeout(Some(Duration::from_millis(500))).ok()?;
    Some(conn)
}

/// Errors that prove the command never took effect.
fn never_applied(e: &RedisError) -> bool {
    let m = e.to_string();
    ["not the leader", "no leader", "BUSY", "was not applied", "unknown command", "wrong number", "syntax error"]
        .iter()
        .any(|s| m.contains(s))
}

/// How an operation that got `e` ended.
pub fn outcome_of_error(e: &RedisError) -> Outcome {
    if never_applied(e) { Outcome::Failed } else { Outcome::Unknown }
}

/// Keys from here on are hash fields: key `k` is field `f{k}` of hash
/// `h{k % HASHES}`. Each field is a register of its own, as a string key
/// is, so the checker's per-key model holds for them unchanged, while
/// several fields share a hash (a watch on one aborts on a write to
/// another, and a hash ends when its last field goes).
pub const HASH_FIELDS_FROM: u64 = 1 << 32;
const HASHES: u64 = 3;

/// Where key `k` lives: a string key, or a hash and a field.
fn place(k: u64) -> (String, Option<String>) {
    if k >= HASH_FIELDS_FROM { (format!("h{}", k % HASHES), Some(format!("f{k}"))) } else { (format!("k{k}"), None) }
}

/// The read of key `k`: `GET`, or `HGET` for a hash field.
pub fn read_command(k: u64) -> redis::Cmd {
    let (key, field) = place(k);
    let mut c = redis::cmd(if field.is_some() { "HGET" } else { "GET" });
    c.arg(key).arg(field);
    c
}

/// Runs one KV operation on key `k` (see [`place`]), returning its
/// answer. A watched write learns what it read here, and says so in `op`.
pub fn execute(conn: &mut Connection, op: &mut Op) -> Result<Ret, RedisError> {
    Ok(match op {
        Op::Tx(_, ops) => {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for o in ops.iter() {
                pipe.add_command(command(o)?);
            }
            let replies: Vec<redis::Value> = pipe.query(conn)?;
            if replies.len() != ops.len() {
                return Err(RedisError::from((redis::ErrorKind::Client, "EXEC answered the wrong number of replies")));
            }
            Ret::Many(ops.iter().zip(replies).map(|(o, v)| answer(o, v)).collect::<Result<_, _>>()?)
        }
        Op::Watched(k, _, _) => {
            let k = *k;
            // Until EXEC is sent, nothing can have been applied.
            let unsent = |e: RedisError| RedisError::from((redis::ErrorKind::Client, "was not applied", e.to_string()));
            let (key, field) = place(k);
            redis::cmd("WATCH").arg(&key).query::<()>(conn).map_err(unsent)?;
            let read = read_command(k).query::<Option<Value>>(conn).map_err(unsent)?;
            let new = read.unwrap_or(0) + 1;
            *op = Op::Watched(k, read, new);
            let write = match &field {
                Some(f) => redis::cmd("HSET").arg(&key).arg(f).arg(new).clone(),
                None => redis::cmd("SET").arg(&key).arg(new).clone(),
            };
            let stored: Option<(redis::Value,)> = redis::pipe().atomic().add_command(write).query(conn)?;
            Ret::Bool(stored.is_some())
        }
        op => answer(op, command(op)?.query::<redis::Value>(conn)?)?,
    })
}

/// The RESP command for a single-key operation.
fn command(op: &Op) -> Result<redis::Cmd, RedisError> {
    if let Some(c) = field_command(op) {
        return Ok(c);
    }
    let key = |k: &u64| format!("k{k}");
    let mut c;
    match op {
        Op::Get(k) => {
            c = redis::cmd("GET");
            c.arg(key(k));
        }
        Op::Set(k, v) => {
            c = redis::cmd("SET");
            c.arg(key(k)).arg(*v);
        }
        Op::Delete(k) => {
            c = redis::cmd("DEL");
            c.arg(key(k));
        }
        Op::Incr(k, by) => {
            c = redis::cmd("INCRBY");
            c.arg(key(k)).arg(*by);
        }
        Op::Cas(k, Some(e), Some(n)) => {
            c = redis::cmd("CAS");
            c.arg(key(k)).arg(*e).arg(*n);
        }
        // Compare-and-set against absence is SET NX.
        Op::Cas(k, None, Some(n)) => {
            c = redis::cmd("SET");
            c.arg(key(k)).arg(*n).arg("NX");
        }
        // Compare-and-delete has no RESP command; the workload never asks.
        Op::Cas(_, _, None) | Op::Tx(..) | Op::Watched(..) => {
            return Err(RedisError::from((redis::ErrorKind::Client, "unknown command: not a single-key operation")));
        }
    }
    Ok(c)
}

/// The hash command for an operation on a hash field: `HGET`, `HSET`,
/// `HDEL`, `HINCRBY`, and `HSETNX` for a compare-and-set against absence
/// (the only one the workload makes of a field).
fn field_command(op: &Op) -> Option<redis::Cmd> {
    let k = match op {
        Op::Get(k) | Op::Set(k, _) | Op::Delete(k) | Op::Incr(k, _) | Op::Cas(k, None, Some(_)) => *k,
        _ => return None,
    };
    let (key, Some(field)) = place(k) else { return None };
    let mut c;
    match op {
        Op::Get(_) => return Some(read_command(k)),
        Op::Set(_, v) => {
            c = redis::cmd("HSET");
            c.arg(key).arg(field).arg(*v);
        }
        Op::Delete(_) => {
            c = redis::cmd("HDEL");
            c.arg(key).arg(field);
        }
        Op::Incr(_, by) => {
            c = redis::cmd("HINCRBY");
            c.arg(key).arg(field).arg(*by);
        }
        _ => {
            c = redis::cmd("HSETNX");
            c.arg(key).arg(field);
            if let Op::Cas(_, _, Some(n)) = op {
                c.arg(*n);
            }
        }
    }
    Some(c)
}

/// The history's view of `op`'s RESP reply.
fn answer(op: &Op, v: redis::Value) -> Result<Ret, RedisError> {
    use redis::FromRedisValue;
    let field = |k: &u64| *k >= HASH_FIELDS_FROM;
    Ok(match op {
        Op::Get(_) => Ret::Value(Option::<Value>::from_redis_value(v)?),
        // HSET answers how many fields it added: the write is what counts.
        Op::Set(k, _) if field(k) => {
            i64::from_redis_value(v)?;
            Ret::Done
        }
        Op::Set(..) => {
            <()>::from_redis_value(v)?;
            Ret::Done
        }
        Op::Cas(k, None, _) if field(k) => Ret::Bool(i64::from_redis_value(v)? == 1),
        Op::Delete(_) => Ret::Bool(i64::from_redis_value(v)? == 1),
        Op::Incr(..) => Ret::Int(i64::from_redis_value(v)?),
        Op::Cas(_, Some(_), _) => Ret::Bool(i64::from_redis_value(v)? == 1),
        Op::Cas(_, None, _) => Ret::Bool(Option::<String>::from_redis_value(v)?.is_some()),
        Op::Tx(..) | Op::Watched(..) => {
            return Err(RedisError::from((redis::ErrorKind::Client, "not a single-key operation")));
        }
    })
}

/// A random operation: mostly single commands; one in twelve a
/// transaction of two to four on one key, one in twelve a watched
/// increment.
fn random_op(rng: &mut Rng, keys: u64) -> Op {
    // One operation in three on a hash field.
    let k = rng.below(keys) + if rng.below(3) == 0 { HASH_FIELDS_FROM } else { 0 };
    match rng.below(12) {
        0 => Op::Tx(k, (0..rng.range(2, 5)).map(|_| single_op(rng, k)).collect()),
        // What it reads and writes is filled in as it runs.
        1 => Op::Watched(k, None, 0),
        _ => single_op(rng, k),
    }
}

fn single_op(rng: &mut Rng, k: u64) -> Op {
    let v = rng.below(5) as Value;
    match rng.below(10) {
        0..=3 => Op::Get(k),
        4..=5 => Op::Set(k, v),
        6 => Op::Delete(k),
        7..=8 => Op::Incr(k, 1 + rng.below(3) as Value),
        // A field has no compare-and-set but against absence (HSETNX).
        _ if k >= HASH_FIELDS_FROM => Op::Cas(k, None, Some(v)),
        _ => Op::Cas(k, (!rng.chance(0.2)).then(|| rng.below(5) as Value), Some(v)),
    }
}

/// A KV client: one operation at a time until time runs out.
pub fn kv_client(shared: Arc<Shared>, id: u64, seed: u64, keys: u64, max_ops: u64) {
    let mut rng = Rng::with_seed(seed);
    let mut conn: Option<(usize, Connection)> = None;
    for _ in 0..max_ops {
        if Instant::now() >= shared.until {
            return;
        }
        if conn.is_none() {
            let n = rng.below(shared.nodes.len() as u64) as usize;
            conn = connect(shared.nodes[n]).map(|c| (n, c));
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        let mut op = random_op(&mut rng, keys);
        let at = shared.now();
        let hid = shared.history.lock().unwrap_or_else(|e| e.into_inner()).invoke(id, op.clone(), at);
        let result = conn.as_mut().map(|(_, c)| execute(c, &mut op));
        let outcome = match result {
            Some(Ok(ret)) => Outcome::Ok(ret),
            Some(Err(e)) => {
                // Any error: next time, try another node with a new connection.
                conn = None;
                outcome_of_error(&e)
            }
            None => Outcome::Unknown,
        };
        let done = shared.now();
        let mut history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
        history.ops[hid].op = op;
        history.complete(hid, done, outcome);
    }
}

/// Writes `ledger:n` = n for increasing n, remembering the acknowledged.
pub fn ledger_client(shared: Arc<Shared>, seed: u64, max_ops: u64) {
    let mut rng = Rng::with_seed(seed);
    let mut conn: Option<Connection> = None;
    for n in 0..max_ops {
        if Instant::now() >= shared.until {
            return;
        }
        if conn.is_none() {
            conn = connect(shared.nodes[rng.below(shared.nodes.len() as u64) as usize]);
        }
        let Some(c) = conn.as_mut() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        match redis::cmd("SET").arg(format!("ledger:{n}")).arg(n).query::<()>(c) {
            Ok(()) => shared.ledger.lock().unwrap_or_else(|e| e.into_inner()).push(n),
            Err(_) => conn = None,
        }
    }
}

/// Takes a lease, acquires a lock, holds it briefly, releases it; records
/// every grant with its fencing token.
pub fn lock_client(shared: Arc<Shared>, seed: u64, lock: &str, max_ops: u64) {
    let mut rng = Rng::with_seed(seed);
    let mut conn: Option<Connection> = None;
    let mut lease: Option<i64> = None;
    for _ in 0..max_ops {
        if Instant::now() >= shared.until {
            return;
        }
        if conn.is_none() {
            conn = connect(shared.nodes[rng.below(shared.nodes.len() as u64) as usize]);
        }
        let Some(c) = conn.as_mut() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let step: Result<(), RedisError> = (|| {
            let l = match lease {
                Some(l) => l,
                None => {
                    let l = redis::cmd("LEASE").arg("GRANT").arg(1500).query::<i64>(c)?;
                    lease = Some(l);
                    l
                }
            };
            let invoked = shared.now();
            match redis::cmd("LOCK").arg(lock).arg(l).query::<Option<i64>>(c)? {
                Some(token) => {
                    let completed = shared.now();
                    let g = Grant { lock: lock.to_string(), lease: l, invoked, completed, token };
                    shared.grants.lock().unwrap_or_else(|e| e.into_inner()).push(g);
                    std::thread::sleep(Duration::from_millis(rng.range(5, 50)));
                    redis::cmd("UNLOCK").arg(lock).arg(l).arg(token).query::<()>(c)?;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
            Ok(())
        })();
        if let Err(e) = step {
            if e.to_string().contains("lease") || e.to_string().contains("holder") {
                lease = None;
            } else {
                conn = None;
            }
        }
    }
}
