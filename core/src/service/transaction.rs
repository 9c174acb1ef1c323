//! Redis transactions (`MULTI` … `EXEC`, with `WATCH`) as one log entry.
//!
//! A [`Transaction`] carries the versions its client read for the keys it
//! watches ([`super::versions`]) and its commands, writes and reads alike.
//! Applying it checks every watched version first: one changed, and
//! nothing runs (`EXEC` answers nil, Redis's optimistic locking). Otherwise
//! every step runs in order inside the entry, so no replica, reader or
//! crash ever sees part of it. A step that fails (a wrong type, a
//! non-integer) answers its error and the others still run — Redis's rule
//! for errors at `EXEC` time; errors Redis finds while queueing are the
//! front end's, and such a transaction never reaches the log.
//!
//! Lock and lease-ending steps are not allowed ([`Transaction::allows`]):
//! every fencing token of an entry is its index, so two grants of one lock
//! in one entry would share a token.

use super::codec::{DecodeError, Reader, put_bytes};
use super::command::{Caller, Op, Query, put_op, read_op};
use super::kv::KvReply;
use super::reply::{Reply, StoreError};
use super::store::Store;
use crate::id::LogIndex;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// Most steps in one transaction.
pub const MAX_STEPS: usize = 4096;

/// Most keys one transaction watches.
pub const MAX_WATCHED: usize = 4096;

/// A transaction: one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Keys and the versions the client read; any changed aborts it.
    pub watch: Vec<Watched>,
    /// What to run, in order.
    pub steps: Vec<Step>,
}

/// A watched key and the version its client read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// The key.
    pub key: Bytes,
    /// Its version when read ([`super::kv::Kv::version`]).
    pub version: u64,
}

/// One command of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A write, as its own command would do it.
    Write(Op),
    /// A read, answered from the state the steps before it left.
    Read(Query),
}

impl Transaction {
    /// True if `op` may be a step: the key and value writes, and granting
    /// or renewing a lease. Not locks, ending leases (each hands locks on
    /// under the entry's one token), sessions, ticks or transactions.
    pub fn allows(op: &Op) -> bool {
        matches!(
            op,
            Op::Kv { .. } | Op::KvLeased { .. } | Op::Key(_) | Op::LeaseGrant { .. } | Op::LeaseKeepAlive { .. }
        )
    }

    /// The structural checks, independent of state: sizes and what the
    /// steps may be. Each step's own checks run when it is applied.
    pub(crate) fn check(&self, max_key_bytes: usize) -> Result<(), StoreError> {
        if self.steps.len() > MAX_STEPS || self.watch.len() > MAX_WATCHED {
            return Err(StoreError::TransactionTooLarge);
        }
        if self.watch.iter().any(|w| w.key.len() > max_key_bytes) {
            return Err(StoreError::KeyTooLarge);
        }
        if self.steps.iter().any(|s| matches!(s, Step::Write(op) if !Transaction::allows(op))) {
            return Err(StoreError::NotInTransaction);
        }
        Ok(())
    }

    /// True if some step would consult the caller (a lease it uses).
    pub(crate) fn needs_caller(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Write(op) if super::command::op_needs_caller(op)))
    }

    /// False if every write only removes or keeps alive.
    pub(crate) fn grows(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Write(op) if super::command::op_grows(op)))
    }

    pub(crate) fn encode(&self, b: &mut BytesMut) {
        b.put_u32_le(self.watch.len() as u32);
        for w in &self.watch {
            put_bytes(b, &w.key);
            b.put_u64_le(w.version);
        }
        b.put_u32_le(self.steps.len() as u32);
        for s in &self.steps {
            match s {
                Step::Write(op) => {
                    b.put_u8(1);
                    put_op(b, op);
                }
                Step::Read(q) => {
                    b.put_u8(2);
                    put_bytes(b, &q.encode());
                }
            }
        }
    }

    /// Reads what [`Transaction::encode`] wrote; counts are checked against
    /// the bytes left before anything is allocated, and a step cannot be
    /// a transaction itself.
    pub(crate) fn decode(r: &mut Reader) -> Result<Transaction, DecodeError> {
        let n = r.u32()? as usize;
        // A watched key takes at least its length and version: 12 bytes.
        if n > MAX_WATCHED || r.remaining() / 12 < n {
            return Err(DecodeError("watched key count past end of buffer"));
        }
        let mut watch = Vec::with_capacity(n);
        for _ in 0..n {
            watch.push(Watched { key: r.bytes()?, version: r.u64()? });
        }
        let n = r.u32()? as usize;
        // A step takes at least its kind and a tag.
        if n > MAX_STEPS || r.remaining() / 2 < n {
            return Err(DecodeError("step count past end of buffer"));
        }
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            steps.push(match r.u8()? {
                1 => Step::Write(read_op(r, false)?),
                2 => Step::Read(Query::decode(r.bytes()?)?),
                _ => return Err(DecodeError("bad step kind")),
            });
        }
        Ok(Transaction { watch, steps })
    }
}

/// Value bytes in a reply: what the reply limit counts. The rest of each
/// reply is a few bytes, and there are at most [`MAX_STEPS`].
fn value_bytes(r: &Reply) -> usize {
    match r {
        Reply::Kv(KvReply::Value(Some(v))) => v.len(),
        Reply::Kv(KvReply::Values(vs)) => vs.iter().flatten().map(Bytes::len).sum(),
        Reply::Leases(ls) => ls.len() * 26,
        _ => 0,
    }
}

impl Store {
    /// Applies a transaction from the entry at `index`. Replies are bounded
    /// together by the reply limit: a read past it answers
    /// `ReplyTooLarge`, and so does a write that would return a value past
    /// it — refused, so it changes nothing.
    pub(crate) fn run_transaction(&mut self, index: LogIndex, caller: &Caller, tx: Transaction) -> Reply {
        if tx.watch.iter().any(|w| self.kv.version(&w.key) != w.version) {
            return Reply::Exec(None);
        }
        let mut budget = self.config.limits.max_reply_bytes;
        let mut replies = Vec::with_capacity(tx.steps.len());
        for step in tx.steps {
            let reply = match step {
                // A read changes nothing, so it can be answered, then
                // refused if its answer does not fit.
                Step::Read(q) => Some(self.answer(&q)).filter(|r| value_bytes(r) <= budget),
                // A write is sized before it runs.
                Step::Write(op) => match self.returned_value(&op) {
                    Some(len) if len > budget => None,
                    _ => Some(self.run(index, caller, op)),
                },
            };
            let reply = reply.unwrap_or(Reply::Error(StoreError::ReplyTooLarge));
            budget = budget.saturating_sub(value_bytes(&reply));
            replies.push(reply);
        }
        Reply::Exec(Some(replies))
    }

    /// The length of the value a write would answer with, if it answers
    /// with one (`SET … GET`, `GETDEL`, `GETEX`, `GETSET`).
    fn returned_value(&self, op: &Op) -> Option<usize> {
        use super::keyspace::KeyCommand;
        let key = match op {
            Op::Key(
                KeyCommand::Set { key, get: true, .. } | KeyCommand::GetDel { key } | KeyCommand::GetEx { key, .. },
            ) => key,
            _ => return None,
        };
        Some(self.kv.get(key).map_or(0, Bytes::len))
    }
}
