//! A brute-force reference checker, for cross-checking the search.
//!
//! It enumerates every total order of every admissible subset of the
//! operations that respects real time and replays each against a whole KV
//! map, without partitioning by key, memoisation or any other cleverness:
//! exponential, and only meant for histories of a handful of operations.
//! It also writes the KV semantics down a second time, independently of
//! [`super::model`], so a slip in one shows up as a disagreement.

use crate::history::{History, Key, Op, Outcome, Ret, Value};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The most operations [`is_linearizable`] accepts.
pub const MAX_OPS: usize = 12;

/// True if some subset of the operations containing every answered one,
/// in some order consistent with real time, reproduces every answer.
///
/// Failed operations are left out; unknown ones (reads included) may each be
/// placed anywhere after their invocation, or not at all.
///
/// # Panics
///
/// If the history has more than [`MAX_OPS`] operations.
pub fn is_linearizable(history: &History) -> bool {
    assert!(history.len() <= MAX_OPS, "brute force over {} operations would not finish", history.len());
    let ops: Vec<Candidate> = history
        .ops
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed => None,
            Outcome::Unknown => Some(Candidate { op: o.op.clone(), ret: None, invoke: o.invoke, complete: u64::MAX }),
            Outcome::Ok(r) => {
                Some(Candidate { op: o.op.clone(), ret: Some(r.clone()), invoke: o.invoke, complete: o.complete })
            }
        })
        .collect();
    extend(&ops, &mut alloc::vec![false; ops.len()], &BTreeMap::new())
}

struct Candidate {
    op: Op,
    ret: Option<Ret>,
    invoke: u64,
    complete: u64,
}

/// Tries every way to continue the order built so far (`placed`, leading
/// to `map`).
fn extend(ops: &[Candidate], placed: &mut [bool], map: &BTreeMap<Key, Value>) -> bool {
    if ops.iter().zip(placed.iter()).all(|(o, &p)| p || o.ret.is_none()) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // Real time: an answered operation that ended before this one began
        // must already be in the order.
        let blocked = (0..ops.len()).any(|j| !placed[j] && ops[j].ret.is_some() && ops[j].complete < ops[i].invoke);
        if blocked {
            continue;
        }
        let mut next = map.clone();
        // An aborted watched write changed nothing, whatever the key held.
        let aborted = matches!((&ops[i].op, &ops[i].ret), (Op::Watched(..), Some(Ret::Bool(false))));
        if !aborted {
            let Some(answer) = run(&mut next, &ops[i].op) else { continue };
            if ops[i].ret.as_ref().is_some_and(|r| *r != answer) {
                continue;
            }
        }
        placed[i] = true;
        let found = extend(ops, placed, &next);
        placed[i] = false;
        if found {
            return true;
        }
    }
    false
}

/// The KV map's answer to `op`, applied to `map`; `None` on overflow.
fn run(map: &mut BTreeMap<Key, Value>, op: &Op) -> Option<Ret> {
    Some(match *op {
        Op::Tx(_, ref ops) => Ret::Many(ops.iter().map(|o| run(map, o)).collect::<Option<_>>()?),
        Op::Watched(k, expected, new) => {
            let stored = map.get(&k).copied() == expected;
            if stored {
                map.insert(k, new);
            }
            Ret::Bool(stored)
        }
        Op::Get(k) => Ret::Value(map.get(&k).copied()),
        Op::Set(k, v) => {
            map.insert(k, v);
            Ret::Done
        }
        Op::Delete(k) => Ret::Bool(map.remove(&k).is_some()),
        Op::Incr(k, by) => {
            let new = map.get(&k).copied().unwrap_or(0).checked_add(by)?;
            map.insert(k, new);
            Ret::Int(new)
        }
        Op::Cas(k, expected, new) => {
            let swapped = map.get(&k).copied() == expected;
            if swapped {
                match new {
                    Some(v) => map.insert(k, v),
                    None => map.remove(&k),
                };
            }
            Ret::Bool(swapped)
        }
    })
}
