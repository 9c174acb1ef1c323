//! Turning a failed search into something a person can read.
//!
//! A key's sub-history may hold thousands of operations; the useful answer
//! is a handful of them that already contradict each other. The search
//! reports the linearizable prefix that got furthest and, often, the
//! operation that could never follow it; those locate the fault, and a
//! greedy shrink (in the manner of delta debugging, Zeller & Hildebrandt
//! 2002) removes every operation whose absence keeps the rest
//! non-linearizable.

use super::model::{self, State};
use super::partition::KeyOp;
use super::search::{Found, search};
use crate::history::{History, Key, Op, Operation, Outcome, Ret};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

/// Why one key's operations admit no linearization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The key.
    pub key: Key,
    /// A small set of the key's operations that on its own admits no
    /// linearization, in invocation order. Unless a read of a value nobody
    /// wrote is the whole story, it keeps a writer for every value read.
    pub conflict: Vec<Operation>,
    /// True if every operation in `conflict` is needed: without any one of
    /// them the rest has a linearization (or reads a value nobody wrote).
    /// False if shrinking ran out of budget first.
    pub minimal: bool,
    /// The operations the key's search had to consider (failed operations
    /// and unanswered reads excluded).
    pub key_ops: usize,
    /// The linearizable prefix with which the search got furthest (past
    /// the latest response), in the order it placed the operations. Empty, as is `stuck`, when no search was
    /// needed: the conflict is one answer that no state the key ever holds
    /// gives.
    pub prefix: Vec<Operation>,
    /// The key's value after that prefix.
    pub state: State,
    /// The operations that could have come next after the prefix; none of
    /// them fits (or each leads to a dead end later).
    pub stuck: Vec<Operation>,
}

/// Builds the violation for `key`, whose operations `ops` the search found
/// impossible, with `prefix` the partial linearization that got furthest.
pub(crate) fn explain(
    history: &History,
    key: Key,
    ops: &[KeyOp],
    prefix: &[usize],
    culprit: Option<usize>,
    mut budget: u64,
) -> Violation {
    let mut state = None;
    let mut placed = alloc::vec![false; ops.len()];
    for &i in prefix {
        // The search only places what the model accepts.
        state = model::step(state, &ops[i].op, ops[i].ret.as_ref()).expect("a placed operation fits the model");
        placed[i] = true;
    }
    // The first pending response: what must come next is invoked before it.
    let bound = (0..ops.len()).filter(|&i| !placed[i] && ops[i].is_definite()).map(|i| ops[i].complete).min();
    let bound = bound.expect("an impossible search leaves an answered operation unplaced");
    let stuck: Vec<usize> = (0..ops.len()).filter(|&i| !placed[i] && ops[i].invoke <= bound).collect();
    // What the conflict must be about: the operation that doomed the
    // prefix, else the answered ones that do not fit where it left off
    // (an operation that fits there is stuck only by what came before).
    let misfits: Vec<usize> = stuck
        .iter()
        .copied()
        .filter(|&i| ops[i].is_definite() && model::step(state, &ops[i].op, ops[i].ret.as_ref()).is_none())
        .collect();
    let at_fault = match culprit {
        Some(c) => alloc::vec![c],
        None if misfits.is_empty() => stuck.clone(),
        None => misfits,
    };
    let (core, minimal) = shrink(ops, prefix, &at_fault, &mut budget);
    let pick = |i: usize| history.ops[i].clone();
    Violation {
        key,
        conflict: core.iter().map(|o| pick(o.index)).collect(),
        minimal,
        key_ops: ops.len(),
        prefix: prefix.iter().map(|&i| pick(ops[i].index)).collect(),
        state,
        stuck: stuck.iter().map(|&i| pick(ops[i].index)).collect(),
    }
}

/// A small impossible subset of `ops`, and whether it is 1-minimal;
/// `stuck` are the operations at fault.
///
/// Removing operations can create contradictions of its own (drop the
/// delete between a write and an increment and the increment's answer is
/// wrong), which would explain nothing about the history. So a subset only
/// counts if it is impossible because of the operations the search got
/// stuck on: without those it must have a linearization.
///
/// Searching a subset costs about as much as searching the key up to the
/// point where it fails, so shrinking starts small: the operations at
/// fault, a window of the few operations just before them (or the last few
/// the furthest prefix placed) and whatever wrote the values those read,
/// growing fourfold until that counts. Then delta debugging (Zeller & Hildebrandt 2002) removes what is
/// not needed.
fn shrink(ops: &[KeyOp], prefix: &[usize], stuck: &[usize], budget: &mut u64) -> (Vec<KeyOp>, bool) {
    // The window ends when the last operation at fault had to be placed,
    // and starts at the response of the k-th last answered operation due
    // by then: contiguous in time, so nothing between two chosen
    // operations is missing (missing ones make contradictions of their own).
    let due = |o: &KeyOp| if o.is_definite() { o.complete } else { o.invoke };
    let end = stuck.iter().map(|&i| due(&ops[i])).max().unwrap_or(u64::MAX);
    let mut responses: Vec<u64> =
        ops.iter().filter(|o| o.is_definite() && o.complete <= end).map(|o| o.complete).collect();
    responses.sort_unstable_by(|a, b| b.cmp(a));
    let stuck: Vec<usize> = stuck.iter().map(|&i| ops[i].index).collect();
    let counts = |c: &[KeyOp], budget: &mut u64| {
        Ok(supported(c) && impossible(c, budget)? && !impossible(&without(c, &stuck), budget)?)
    };
    let mut core = None;
    let mut last = 4;
    'grow: loop {
        let everything = last >= responses.len() && last >= prefix.len();
        let start = if last >= responses.len() { 0 } else { responses[last - 1] };
        let window: Vec<bool> = ops
            .iter()
            .map(|o| stuck.contains(&o.index) || (o.invoke <= end && due(o).max(o.invoke) >= start))
            .collect();
        // The other guess: the last operations the furthest prefix placed.
        let mut placed: Vec<bool> = ops.iter().map(|o| stuck.contains(&o.index)).collect();
        for &i in &prefix[prefix.len() - last.min(prefix.len())..] {
            placed[i] = true;
        }
        for mut chosen in [window, placed] {
            support(ops, &mut chosen);
            let candidate: Vec<KeyOp> = (0..ops.len()).filter(|&i| chosen[i]).map(|i| ops[i].clone()).collect();
            match counts(&candidate, budget) {
                Ok(true) => {
                    core = Some(candidate);
                    break 'grow;
                }
                // The last resort: impossible will do.
                Ok(false) if everything && impossible(&candidate, budget) == Ok(true) => {
                    core = Some(candidate);
                    break 'grow;
                }
                Ok(false) => {}
                Err(Exhausted) => break 'grow,
            }
        }
        if everything {
            break;
        }
        last *= 4;
    }
    let Some(mut core) = core else { return (ops.to_vec(), false) };
    // A read of a value no remaining operation wrote is a contradiction on
    // its own, and a useless one: keep operations that make every answer
    // reachable in some order, so what is left shows real time is what the
    // answers disagree with. Unless no such operations ever existed.
    let need_support = supported(&core);
    let need_stuck = impossible(&without(&core, &stuck), budget) == Ok(false);
    let counts = |c: &[KeyOp], budget: &mut u64| {
        if need_support && !supported(c) {
            return Ok(false);
        }
        Ok(impossible(c, budget)? && !(need_stuck && impossible(&without(c, &stuck), budget)?))
    };
    let mut chunk = core.len().div_ceil(2);
    loop {
        let mut at = 0;
        let mut removed = false;
        while at < core.len() {
            let end = (at + chunk).min(core.len());
            let trial: Vec<KeyOp> = core[..at].iter().chain(&core[end..]).cloned().collect();
            match counts(&trial, budget) {
                Ok(true) => {
                    core = trial;
                    removed = true;
                }
                Ok(false) => at = end,
                Err(Exhausted) => return (core, false),
            }
        }
        // A removal can make an earlier operation unneeded (the read that
        // kept its writer in is gone): single removals repeat until none
        // succeeds, which is what makes the result 1-minimal.
        match chunk {
            1 if !removed => return (core, true),
            1 => {}
            _ => chunk /= 2,
        }
    }
}

/// The search ran out of budget.
#[derive(Debug, PartialEq, Eq)]
struct Exhausted;

/// Whether the search proves `ops` admit no linearization.
fn impossible(ops: &[KeyOp], budget: &mut u64) -> Result<bool, Exhausted> {
    match search(ops, budget) {
        Found::Impossible { .. } => Ok(true),
        Found::Linearizable => Ok(false),
        Found::Exhausted => Err(Exhausted),
    }
}

/// `ops` without the history positions in `drop`.
fn without(ops: &[KeyOp], drop: &[usize]) -> Vec<KeyOp> {
    ops.iter().filter(|o| !drop.contains(&o.index)).cloned().collect()
}

/// Adds to `chosen` operations that make each chosen answer reachable in
/// some order: while some answer is not, an operation that leaves a state
/// it can be given from (the latest invoked before that answer came, else
/// the earliest after). Failing that, an unknown increment that can bridge
/// the gap, with a writer of the value it would start from.
fn support(ops: &[KeyOp], chosen: &mut [bool]) {
    // Each round recomputes the reachable states; a chain of writers longer
    // than this is left unsupported (the shrink then does without).
    const MAX_HELPERS: usize = 64;
    for _ in 0..MAX_HELPERS {
        let members: Vec<usize> = (0..ops.len()).filter(|&i| chosen[i]).collect();
        let Some(p) = unreachable(members.iter().map(|&i| &ops[i])) else { return };
        let needy = &ops[members[p]];
        let fits = |s: State| model::step(s, &needy.op, needy.ret.as_ref()).is_some();
        let leaves = |w: &KeyOp| model::leaves(&w.op, w.ret.as_ref());
        if let Some(h) = nearest(ops, chosen, needy, |w| matches!(leaves(w), model::Leaves::One(s) if fits(s))) {
            chosen[h] = true;
            continue;
        }
        let Some(u) = nearest(ops, chosen, needy, |w| leaves(w) == model::Leaves::Any) else { return };
        chosen[u] = true;
        let Op::Incr(_, by) = ops[u].op else { return };
        let bridged = |w: &KeyOp| match leaves(w) {
            model::Leaves::One(s) => s.unwrap_or(0).checked_add(by).is_some_and(|t| fits(Some(t))),
            _ => false,
        };
        if let Some(w) = nearest(ops, chosen, needy, bridged) {
            chosen[w] = true;
        }
    }
}

/// The unchosen operation that `helps`, invoked last before `needy`
/// completed, else first after.
fn nearest(ops: &[KeyOp], chosen: &[bool], needy: &KeyOp, helps: impl Fn(&KeyOp) -> bool) -> Option<usize> {
    let helpers = (0..ops.len()).filter(|&i| !chosen[i] && helps(&ops[i]));
    helpers.clone().rfind(|&i| ops[i].invoke <= needy.complete).or_else(|| helpers.clone().next())
}

/// The position of the first answer among `ops` that no sequential run of
/// them reaches a state for.
fn unreachable<'a>(ops: impl Iterator<Item = &'a KeyOp>) -> Option<usize> {
    model::unreachable_answer(&ops.map(|o| (&o.op, o.ret.as_ref())).collect::<Vec<_>>())
}

/// True if every answer among `ops` is reachable in some order.
fn supported(ops: &[KeyOp]) -> bool {
    unreachable(ops.iter()).is_none()
}

/// Builds the violation for `key` when `ops[culprit]` gave an answer that
/// no state the key ever holds gives; no search is needed.
pub(crate) fn impossible_answer(history: &History, key: Key, ops: &[KeyOp], culprit: usize) -> Violation {
    let pick = history.ops[ops[culprit].index].clone();
    let conflict = alloc::vec![pick];
    Violation { key, conflict, minimal: true, key_ops: ops.len(), prefix: Vec::new(), state: None, stuck: Vec::new() }
}

/// How many operations of the prefix [`Violation`]'s report shows.
const PREFIX_SHOWN: usize = 5;
/// How many of the first, and of the last, conflicting operations it shows.
const CONFLICT_SHOWN: usize = 10;

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "key {} is not linearizable ({} operations considered)", self.key, self.key_ops)?;
        let needed = if self.minimal { ", each of them needed" } else { " (shrinking ran out of budget)" };
        writeln!(f, "these {} operations alone admit no linearization{needed}:", self.conflict.len())?;
        let hidden = self.conflict.len().saturating_sub(2 * CONFLICT_SHOWN);
        for (i, o) in self.conflict.iter().enumerate() {
            if hidden == 0 || i < CONFLICT_SHOWN || i >= CONFLICT_SHOWN + hidden {
                writeln!(f, "  {}", show(o))?;
            } else if i == CONFLICT_SHOWN {
                writeln!(f, "  ... {hidden} more")?;
            }
        }
        if self.stuck.is_empty() {
            return writeln!(f, "no state that any of the key's operations can leave gives that answer");
        }
        writeln!(f, "the linearizable prefix that got furthest places {} operations:", self.prefix.len())?;
        let hidden = self.prefix.len().saturating_sub(PREFIX_SHOWN);
        if hidden > 0 {
            writeln!(f, "  ... {hidden} earlier")?;
        }
        for o in &self.prefix[hidden..] {
            writeln!(f, "  {}", show(o))?;
        }
        writeln!(f, "leaving the key {}; none of these can follow:", value(self.state))?;
        for o in &self.stuck {
            let answer = model::apply(self.state, &o.op).map(|(_, r)| ret(&r));
            let answer = answer.unwrap_or_else(|| "an overflow error".into());
            writeln!(f, "  {} (here it would answer {answer})", show(o))?;
        }
        Ok(())
    }
}

/// One line per operation: `#id client c [invoke, complete] op -> outcome`.
fn show(o: &Operation) -> String {
    let mut s = String::new();
    let end = if o.outcome == Outcome::Unknown { "inf".into() } else { o.complete.to_string() };
    let _ = write!(s, "#{} client {} [{}, {}] ", o.id, o.client, o.invoke, end);
    s.push_str(&show_op(&o.op));
    let _ = match &o.outcome {
        Outcome::Ok(r) => write!(s, " -> {}", ret(r)),
        Outcome::Failed => write!(s, " -> failed"),
        Outcome::Unknown => write!(s, " -> unknown"),
    };
    s
}

fn show_op(op: &Op) -> String {
    match op {
        Op::Get(k) => format!("get({k})"),
        Op::Set(k, v) => format!("set({k}, {v})"),
        Op::Delete(k) => format!("delete({k})"),
        Op::Incr(k, by) => format!("incr({k}, {by})"),
        Op::Cas(k, e, n) => format!("cas({k}, {} -> {})", value(*e), value(*n)),
        Op::Tx(_, ops) => format!("multi[{}]", ops.iter().map(show_op).collect::<Vec<_>>().join(", ")),
        Op::Watched(k, e, n) => format!("watched({k}, {} -> {n})", value(*e)),
    }
}

fn value(v: Option<i64>) -> String {
    v.map_or_else(|| "absent".into(), |v| v.to_string())
}

fn ret(r: &Ret) -> String {
    match r {
        Ret::Value(v) => value(*v),
        Ret::Done => "done".into(),
        Ret::Int(i) => i.to_string(),
        Ret::Bool(b) => b.to_string(),
        Ret::Many(rs) => format!("[{}]", rs.iter().map(ret).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::partition::split;
    use super::*;

    #[test]
    fn shrinks_to_the_writes_and_read_that_contradict_and_names_the_stuck_read() {
        let mut h = History::default();
        // Noise on the key before the fault, then a write and a stale read.
        for (i, v) in [5, 6, 7].into_iter().enumerate() {
            let t = i as u64 * 100;
            let a = h.invoke(9, Op::Set(1, v), t);
            h.complete(a, t + 10, Outcome::Ok(Ret::Done));
            let b = h.invoke(9, Op::Get(1), t + 20);
            h.complete(b, t + 30, Outcome::Ok(Ret::Value(Some(v))));
        }
        let w = h.invoke(0, Op::Set(1, 8), 1000);
        h.complete(w, 1010, Outcome::Ok(Ret::Done));
        let r = h.invoke(1, Op::Get(1), 1020);
        h.complete(r, 1030, Outcome::Ok(Ret::Value(Some(7))));
        let ops = &split(&h)[&1];
        let Found::Impossible { prefix, culprit } = search(ops, &mut 10_000) else { panic!("stale read accepted") };
        let v = explain(&h, 1, ops, &prefix, culprit, 10_000);
        // The write of 7 stays: without it the read would be trivially wrong.
        assert_eq!(v.conflict.iter().map(|o| o.id).collect::<Vec<_>>(), [4, w, r]);
        assert!(v.minimal);
        assert_eq!(v.prefix.len(), 7);
        assert_eq!(v.state, Some(8));
        assert_eq!(v.stuck.iter().map(|o| o.id).collect::<Vec<_>>(), [r]);
        let text = v.to_string();
        assert!(text.contains("get(1) -> 7 (here it would answer 8)"), "{text}");
        assert!(text.contains("... 2 earlier"), "{text}");
    }

    #[test]
    fn without_budget_the_conflict_is_left_unshrunk() {
        let mut h = History::default();
        let a = h.invoke(0, Op::Incr(2, 1), 0);
        h.complete(a, 10, Outcome::Ok(Ret::Int(1)));
        let b = h.invoke(0, Op::Incr(2, 1), 20);
        h.complete(b, 30, Outcome::Ok(Ret::Int(1)));
        let c = h.invoke(0, Op::Get(3), 20);
        h.complete(c, 30, Outcome::Ok(Ret::Value(None)));
        let ops = &split(&h)[&2];
        let Found::Impossible { prefix, culprit } = search(ops, &mut 100) else { panic!("lost increment accepted") };
        let v = explain(&h, 2, ops, &prefix, culprit, 0);
        assert_eq!(v.conflict.len(), 2);
        assert_eq!(v.stuck[0].op, Op::Incr(2, 1));
        assert!(v.to_string().contains("incr(2, 1) -> 1 (here it would answer 2)"));
    }
}
