//! Closed-loop clients issuing KV operations over a small key space.

use crate::history::{Key, Op, Ret, Value};
use bytes::Bytes;
use synod_core::rand::Rng;
use synod_core::service::kv::{KvCommand, KvQuery, KvReply};
use synod_core::service::{ClientId, Command, Op as StoreOp, Query, Reply, Seq, Step, Transaction};

/// A client with at most one operation outstanding.
#[derive(Debug, Default)]
pub struct Client {
    /// The operation in flight: history id and the op.
    pub current: Option<(usize, Op)>,
    /// Where it believes the leader is (node position).
    pub leader_hint: Option<usize>,
    /// Numbers its writes in a session and retries one that got no
    /// answer with the same number (Raft thesis §6.3), instead of
    /// recording it as unknown.
    pub sessioned: bool,
    /// Its session, once opened.
    pub session: Option<ClientId>,
    /// An open is in flight.
    pub opening: bool,
    /// The number of its current write in the session.
    pub seq: u64,
    /// Sends of the current request (or open); a timeout of an earlier
    /// send is stale.
    pub attempt: u32,
    /// Sends of the current operation.
    pub tries: u32,
}

/// Picks a random operation: one in twelve a transaction of two to four
/// operations on one key.
pub fn random_op(rng: &mut Rng, keys: u64) -> Op {
    let k: Key = rng.below(keys);
    if rng.chance(1.0 / 12.0) {
        let n = rng.range(2, 5);
        return Op::Tx(k, (0..n).map(|_| single_op(rng, k)).collect());
    }
    single_op(rng, k)
}

fn single_op(rng: &mut Rng, k: Key) -> Op {
    let v = |rng: &mut Rng| -> Value { rng.below(5) as Value };
    match rng.below(10) {
        0..=3 => Op::Get(k),
        4..=5 => Op::Set(k, v(rng)),
        6 => Op::Delete(k),
        7..=8 => Op::Incr(k, 1 + rng.below(3) as Value),
        _ => {
            let expected = if rng.chance(0.2) { None } else { Some(v(rng)) };
            let new = if rng.chance(0.1) { None } else { Some(v(rng)) };
            Op::Cas(k, expected, new)
        }
    }
}

/// The key as the KV service stores it.
pub fn key_bytes(k: Key) -> Bytes {
    Bytes::from(format!("k{k}"))
}

fn value_bytes(v: Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// The encoded store query for a read.
pub fn query(op: &Op) -> Bytes {
    Query::Kv(KvQuery::Get { key: key_bytes(op.key()) }).encode()
}

/// The encoded store command for a write, as command `seq` of a session
/// if given; `None` for a read.
pub fn command(op: &Op, session: Option<(ClientId, u64)>) -> Option<Bytes> {
    let op = match op {
        Op::Tx(_, ops) => StoreOp::Exec(Transaction { watch: Vec::new(), steps: ops.iter().map(step).collect() }),
        op => StoreOp::Kv { cmd: kv_command(op)?, lease: None },
    };
    Some(match session {
        Some((client, seq)) => Command::in_session(client, Seq(seq), op).encode(),
        None => Command::new(op).encode(),
    })
}

/// A transaction's step for `op`.
fn step(op: &Op) -> Step {
    match kv_command(op) {
        Some(cmd) => Step::Write(StoreOp::Kv { cmd, lease: None }),
        None => Step::Read(Query::Kv(KvQuery::Get { key: key_bytes(op.key()) })),
    }
}

fn kv_command(op: &Op) -> Option<KvCommand> {
    Some(match op {
        Op::Get(_) | Op::Tx(..) | Op::Watched(..) => return None,
        Op::Set(k, v) => KvCommand::Set { key: key_bytes(*k), value: value_bytes(*v) },
        Op::Delete(k) => KvCommand::Delete { key: key_bytes(*k) },
        Op::Incr(k, by) => KvCommand::Incr { key: key_bytes(*k), by: *by },
        Op::Cas(k, e, n) => {
            KvCommand::Cas { key: key_bytes(*k), expected: e.map(value_bytes), new: n.map(value_bytes) }
        }
    })
}

/// The history's view of a transaction's replies.
pub fn tx_ret(op: &Op, replies: &[Reply]) -> Option<Ret> {
    let Op::Tx(_, ops) = op else { return None };
    if ops.len() != replies.len() {
        return None;
    }
    let each = ops.iter().zip(replies).map(|(o, r)| match r {
        Reply::Kv(kv) => ret(o, kv),
        _ => None,
    });
    Some(Ret::Many(each.collect::<Option<_>>()?))
}

/// The history's view of a service reply; `None` if the reply cannot
/// answer this op (a malformed or refused command — itself a failure).
pub fn ret(op: &Op, reply: &KvReply) -> Option<Ret> {
    Some(match (op, reply) {
        (Op::Set(..), KvReply::Ok) => Ret::Done,
        (Op::Delete(_), KvReply::Bool(b)) | (Op::Cas(..), KvReply::Bool(b)) => Ret::Bool(*b),
        (Op::Incr(..), KvReply::Int(i)) => Ret::Int(*i),
        (Op::Get(_), KvReply::Value(v)) => Ret::Value(v.as_ref().map(parse_value)),
        _ => return None,
    })
}

/// Parses a stored value; the workload only ever stores integers.
pub fn parse_value(b: &Bytes) -> Value {
    core::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(Value::MIN)
}
