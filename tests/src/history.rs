//! Client histories: what each client asked, when, and what it was told.
//!
//! The simulator (and the fault-injection harness) record one
//! [`Operation`] per client request; the linearizability checker decides
//! whether some total order of them, consistent with real time, explains
//! every answer.

/// A key of the test key space (small on purpose, to force conflicts).
pub type Key = u64;
/// A value; integers so `incr` applies to anything stored.
pub type Value = i64;

/// A request against the KV model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Read a key.
    Get(Key),
    /// Write a key.
    Set(Key, Value),
    /// Remove a key.
    Delete(Key),
    /// Add to a key (missing counts as 0).
    Incr(Key, Value),
    /// Compare-and-set: if the key holds `.1` (`None`: absent), store `.2`
    /// (`None`: delete).
    Cas(Key, Option<Value>, Option<Value>),
    /// A transaction (`MULTI` … `EXEC`) of operations on the one key, applied
    /// together: nothing else happens between them.
    Tx(Key, Vec<Op>),
    /// `WATCH key`, `GET key` (which read `.1`), then `MULTI`, `SET key .2`,
    /// `EXEC`: stored only if the key had not changed since it was read, so
    /// if it answers true the key held `.1` when it was stored. It may
    /// answer false (nil from `EXEC`) whatever the key holds.
    Watched(Key, Option<Value>, Value),
}

impl Op {
    /// The one key the operation touches.
    pub fn key(&self) -> Key {
        match self {
            Op::Get(k)
            | Op::Set(k, _)
            | Op::Delete(k)
            | Op::Incr(k, _)
            | Op::Cas(k, _, _)
            | Op::Tx(k, _)
            | Op::Watched(k, ..) => *k,
        }
    }

    /// True if the operation cannot change state.
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get(_))
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `Get`'s answer.
    Value(Option<Value>),
    /// `Set`'s answer.
    Done,
    /// `Incr`'s answer: the new value.
    Int(Value),
    /// `Delete` (existed), `Cas` (swapped) and `Watched` (stored).
    Bool(bool),
    /// A transaction's answers, one per operation.
    Many(Vec<Ret>),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered.
    Ok(Ret),
    /// Definitely never took effect (refused before it was proposed).
    Failed,
    /// No answer (timeout, crash): it may have taken effect, at any time
    /// after its invocation.
    Unknown,
}

/// One request's life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Position in the history.
    pub id: usize,
    /// The client that issued it; a client has one operation at a time.
    pub client: u64,
    /// What was asked.
    pub op: Op,
    /// When it was invoked (nanoseconds, any epoch shared by the history).
    pub invoke: u64,
    /// When it completed; `u64::MAX` while (or if forever) unanswered.
    pub complete: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A recorded history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Operations in invocation order.
    pub ops: Vec<Operation>,
}

impl History {
    /// Records an invocation; returns its id for [`History::complete`].
    pub fn invoke(&mut self, client: u64, op: Op, at: u64) -> usize {
        let id = self.ops.len();
        self.ops.push(Operation { id, client, op, invoke: at, complete: u64::MAX, outcome: Outcome::Unknown });
        id
    }

    /// Records how operation `id` ended.
    pub fn complete(&mut self, id: usize, at: u64, outcome: Outcome) {
        let o = &mut self.ops[id];
        o.complete = if outcome == Outcome::Unknown { u64::MAX } else { at };
        o.outcome = outcome;
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
