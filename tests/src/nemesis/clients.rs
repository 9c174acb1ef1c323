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

/// Runs one KV operation on key `k{key}`, returning its answer.
pub fn execute(conn: &mut Connection, op: &Op) -> Result<Ret, RedisError> {
    let key = |k: &u64| format!("k{k}");
    Ok(match op {
        Op::Get(k) => Ret::Value(redis::cmd("GET").arg(key(k)).query::<Option<Value>>(conn)?),
        Op::Set(k, v) => {
            redis::cmd("SET").arg(key(k)).arg(*v).query::<()>(conn)?;
            Ret::Done
        }
        Op::Delete(k) => Ret::Bool(redis::cmd("DEL").arg(key(k)).query::<i64>(conn)? == 1),
        Op::Incr(k, by) => Ret::Int(redis::cmd("INCRBY").arg(key(k)).arg(*by).query::<i64>(conn)?),
        Op::Cas(k, Some(e), Some(n)) => {
            Ret::Bool(redis::cmd("CAS").arg(key(k)).arg(*e).arg(*n).query::<i64>(conn)? == 1)
        }
        // Compare-and-set against absence is SET NX.
        Op::Cas(k, None, Some(n)) => {
            Ret::Bool(redis::cmd("SET").arg(key(k)).arg(*n).arg("NX").query::<Option<String>>(conn)?.is_some())
        }
        // Compare-and-delete has no RESP command; the workload never asks.
        Op::Cas(_, _, None) => {
            return Err(RedisError::from((redis::ErrorKind::Client, "unknown command: compare-and-delete")));
        }
    })
}

fn random_op(rng: &mut Rng, keys: u64) -> Op {
    let k = rng.below(keys);
    let v = rng.below(5) as Value;
    match rng.below(10) {
        0..=3 => Op::Get(k),
        4..=5 => Op::Set(k, v),
        6 => Op::Delete(k),
        7..=8 => Op::Incr(k, 1 + rng.below(3) as Value),
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
        let op = random_op(&mut rng, keys);
        let at = shared.now();
        let hid = shared.history.lock().unwrap_or_else(|e| e.into_inner()).invoke(id, op.clone(), at);
        let result = conn.as_mut().map(|(_, c)| execute(c, &op));
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
        shared.history.lock().unwrap_or_else(|e| e.into_inner()).complete(hid, done, outcome);
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
