//! The sequential specification of one key of the KV map.
//!
//! The same semantics as synod's `service::kv::Kv` over decimal integers,
//! restricted to one key: P-compositionality (Horn & Kroening 2015) lets the
//! checker treat each key as its own object, so the model's whole state is
//! the key's value, or `None` if the key is absent.

use crate::history::{Op, Ret, Value};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// What one key holds: its value, or `None` if absent.
pub type State = Option<Value>;

/// Applies `op` to a key holding `state`: the state afterwards and the answer
/// an atomic KV gives.
///
/// `None` if the operation cannot complete with an answer: an `Incr` that
/// would overflow (the real service refuses it and changes nothing, which a
/// history records as `Failed`, never as `Ok`).
pub fn apply(state: State, op: &Op) -> Option<(State, Ret)> {
    Some(match *op {
        Op::Tx(_, ref ops) => {
            let mut state = state;
            let mut rets = Vec::with_capacity(ops.len());
            for op in ops {
                let (next, ret) = apply(state, op)?;
                state = next;
                rets.push(ret);
            }
            (state, Ret::Many(rets))
        }
        // Stored (it found what it read), or aborted: `step` accepts an
        // abort in any state.
        Op::Watched(_, expected, new) if state == expected => (Some(new), Ret::Bool(true)),
        Op::Watched(..) => (state, Ret::Bool(false)),
        Op::Get(_) => (state, Ret::Value(state)),
        Op::Set(_, v) => (Some(v), Ret::Done),
        Op::Delete(_) => (None, Ret::Bool(state.is_some())),
        Op::Incr(_, by) => {
            let new = state.unwrap_or(0).checked_add(by)?;
            (Some(new), Ret::Int(new))
        }
        Op::Cas(_, expected, new) => {
            if state == expected {
                (new, Ret::Bool(true))
            } else {
                (state, Ret::Bool(false))
            }
        }
    })
}

/// The state after `op` if it can take effect on `state` and answer `ret`;
/// `ret == None` means the answer is not known, so any answer will do.
pub fn step(state: State, op: &Op, ret: Option<&Ret>) -> Option<State> {
    // An aborted watched write changed nothing, whatever the key held: a
    // watch may abort on a change that left the value as it was.
    if matches!((op, ret), (Op::Watched(..), Some(Ret::Bool(false)))) {
        return Some(state);
    }
    let (next, answer) = apply(state, op)?;
    match ret {
        Some(r) if *r != answer => None,
        _ => Some(next),
    }
}

/// True if an operation that gave `ret` left the state as it found it,
/// whatever that state was: a read, a compare-and-set that did not swap, a
/// delete of nothing.
pub fn is_observer(op: &Op, ret: &Ret) -> bool {
    match (op, ret) {
        (Op::Tx(_, ops), Ret::Many(rets)) => ops.iter().zip(rets).all(|(o, r)| is_observer(o, r)),
        _ => matches!((op, ret), (Op::Get(_), _) | (Op::Cas(..) | Op::Delete(_) | Op::Watched(..), Ret::Bool(false))),
    }
}

/// True if the state after `op` and its answer `ret` (`None`: unknown) do
/// not depend on the state before: a set, or a delete whose answer (which
/// would tell whether the key existed) is unknown.
pub fn overwrites(op: &Op, ret: Option<&Ret>) -> bool {
    matches!((op, ret), (Op::Set(..), _) | (Op::Delete(_), None))
}

/// What an operation may leave behind, besides what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaves {
    /// Nothing new: it only observed.
    Nothing,
    /// This state (or, for some, the one it found).
    One(State),
    /// Any value: an increment whose answer is unknown.
    Any,
}

/// What `op`, having answered `ret` (`None`: unknown), may leave behind.
pub fn leaves(op: &Op, ret: Option<&Ret>) -> Leaves {
    match (op, ret) {
        // Answered: the last of its operations that wrote decides.
        (Op::Tx(_, ops), Some(Ret::Many(rets))) => ops
            .iter()
            .zip(rets)
            .rev()
            .map(|(o, r)| leaves(o, Some(r)))
            .find(|l| *l != Leaves::Nothing)
            .unwrap_or(Leaves::Nothing),
        // Unanswered: only plain writes say what they leave.
        (Op::Tx(_, ops), _) => match ops.iter().rev().find(|o| !o.is_read()) {
            Some(o @ (Op::Set(..) | Op::Delete(_))) => leaves(o, None),
            Some(_) => Leaves::Any,
            None => Leaves::Nothing,
        },
        (Op::Watched(_, _, v), None | Some(Ret::Bool(true))) => Leaves::One(Some(*v)),
        (Op::Incr(..), None) => Leaves::Any,
        (Op::Set(_, v), _) | (Op::Incr(..), Some(Ret::Int(v))) => Leaves::One(Some(*v)),
        (Op::Cas(_, _, new), None | Some(Ret::Bool(true))) => Leaves::One(*new),
        (Op::Delete(_), _) => Leaves::One(None),
        _ => Leaves::Nothing,
    }
}

/// The position of the first answer among `ops` (answer `None`: unknown)
/// that no state gives, where the states are the initial absence and every
/// state one of the operations may leave, ignoring order and timing.
///
/// Such an answer proves the history non-linearizable without any search,
/// and on its own: a read of a value nobody wrote, say.
pub fn impossible_answer<'a>(ops: impl Iterator<Item = (&'a Op, Option<&'a Ret>)> + Clone) -> Option<usize> {
    // Every state that can ever exist.
    let mut left: Vec<State> = alloc::vec![None];
    for (op, ret) in ops.clone() {
        match leaves(op, ret) {
            Leaves::Nothing => {}
            Leaves::One(s) => left.push(s),
            Leaves::Any => return None,
        }
    }
    left.sort_unstable();
    left.dedup();
    ops.into_iter().position(|(op, ret)| ret.is_some() && left.iter().all(|&s| step(s, op, ret).is_none()))
}

/// The position of the first answered operation among `ops` (answer
/// `None`: unknown) whose answer no sequential run of them from the initial
/// absence reaches a state for, ignoring real time.
///
/// Stricter than [`impossible_answer`]: answers cannot support each other
/// in a circle (two increments each needing the other's result, say). The
/// reachable states are over-approximated (an operation may be used more
/// than once), so `Some` proves the operations alone admit no
/// linearization; `None` proves nothing, and is also the answer when the
/// reachable states exceed a cap (unknown increments add up fast).
pub fn unreachable_answer(ops: &[(&Op, Option<&Ret>)]) -> Option<usize> {
    const MAX_STATES: usize = 1024;
    let mut seen: BTreeSet<State> = BTreeSet::from([None]);
    let mut frontier: Vec<State> = alloc::vec![None];
    // Breadth first, one level per step of a sequential run, which is at
    // most `ops.len()` steps long; each state is expanded once.
    for _ in 0..ops.len() {
        let mut next = Vec::new();
        for &s in &frontier {
            for &(op, ret) in ops {
                if let Some(t) = step(s, op, ret)
                    && seen.insert(t)
                {
                    next.push(t);
                }
            }
        }
        if seen.len() > MAX_STATES {
            return None;
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    ops.iter().position(|&(op, ret)| ret.is_some() && seen.iter().all(|&s| step(s, op, ret).is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_answers_the_current_value() {
        assert_eq!(apply(None, &Op::Get(1)), Some((None, Ret::Value(None))));
        assert_eq!(apply(Some(4), &Op::Get(1)), Some((Some(4), Ret::Value(Some(4)))));
    }

    #[test]
    fn set_overwrites_and_delete_reports_existence() {
        assert_eq!(apply(Some(1), &Op::Set(1, 2)), Some((Some(2), Ret::Done)));
        assert_eq!(apply(Some(1), &Op::Delete(1)), Some((None, Ret::Bool(true))));
        assert_eq!(apply(None, &Op::Delete(1)), Some((None, Ret::Bool(false))));
    }

    #[test]
    fn incr_counts_missing_as_zero_and_refuses_overflow() {
        assert_eq!(apply(None, &Op::Incr(1, 3)), Some((Some(3), Ret::Int(3))));
        assert_eq!(apply(Some(-5), &Op::Incr(1, 2)), Some((Some(-3), Ret::Int(-3))));
        assert_eq!(apply(Some(Value::MAX), &Op::Incr(1, 1)), None);
        assert_eq!(step(Some(Value::MIN), &Op::Incr(1, -1), None), None);
    }

    #[test]
    fn cas_swaps_only_on_a_match_and_none_means_absent() {
        assert_eq!(apply(Some(1), &Op::Cas(1, Some(1), Some(2))), Some((Some(2), Ret::Bool(true))));
        assert_eq!(apply(Some(1), &Op::Cas(1, Some(3), Some(2))), Some((Some(1), Ret::Bool(false))));
        assert_eq!(apply(None, &Op::Cas(1, None, Some(2))), Some((Some(2), Ret::Bool(true))));
        assert_eq!(apply(Some(0), &Op::Cas(1, None, Some(2))), Some((Some(0), Ret::Bool(false))));
        assert_eq!(apply(Some(7), &Op::Cas(1, Some(7), None)), Some((None, Ret::Bool(true))));
    }

    #[test]
    fn step_checks_the_answer_and_accepts_any_when_unknown() {
        assert_eq!(step(Some(1), &Op::Get(1), Some(&Ret::Value(Some(1)))), Some(Some(1)));
        assert_eq!(step(Some(1), &Op::Get(1), Some(&Ret::Value(None))), None);
        // An answer of the wrong kind is never the model's.
        assert_eq!(step(Some(1), &Op::Set(1, 2), Some(&Ret::Bool(true))), None);
        assert_eq!(step(Some(1), &Op::Cas(1, Some(9), Some(2)), None), Some(Some(1)));
        assert_eq!(step(Some(1), &Op::Incr(1, 1), Some(&Ret::Int(3))), None);
    }

    #[test]
    fn observers_are_the_answers_that_never_change_state() {
        assert!(is_observer(&Op::Get(1), &Ret::Value(Some(2))));
        assert!(is_observer(&Op::Cas(1, None, Some(2)), &Ret::Bool(false)));
        assert!(!is_observer(&Op::Cas(1, None, Some(2)), &Ret::Bool(true)));
        assert!(is_observer(&Op::Delete(1), &Ret::Bool(false)));
        assert!(!is_observer(&Op::Delete(1), &Ret::Bool(true)));
        // incr(0) answering 0 may have turned an absent key into 0.
        assert!(!is_observer(&Op::Incr(1, 0), &Ret::Int(0)));
        assert!(!is_observer(&Op::Set(1, 2), &Ret::Done));
    }

    #[test]
    fn overwrites_are_blind_to_the_state_before() {
        assert!(overwrites(&Op::Set(1, 2), Some(&Ret::Done)));
        assert!(overwrites(&Op::Set(1, 2), None));
        assert!(overwrites(&Op::Delete(1), None));
        assert!(!overwrites(&Op::Delete(1), Some(&Ret::Bool(true))));
        assert!(!overwrites(&Op::Cas(1, None, None), None));
        assert!(!overwrites(&Op::Incr(1, 0), None));
    }

    fn possible(ops: &[(Op, Option<Ret>)]) -> bool {
        impossible_answer(ops.iter().map(|(o, r)| (o, r.as_ref()))).is_none()
    }

    #[test]
    fn answers_from_states_that_never_exist_are_impossible() {
        let get = |v| (Op::Get(1), Some(Ret::Value(v)));
        assert!(possible(&[get(None)]));
        assert!(!possible(&[get(Some(3))]));
        assert_eq!(
            impossible_answer([(&Op::Set(1, 2), None), (&Op::Get(1), Some(&Ret::Value(Some(3))))].into_iter()),
            Some(1)
        );
        assert!(possible(&[get(Some(3)), (Op::Set(1, 3), None)]));
        assert!(possible(&[get(Some(3)), (Op::Cas(1, None, Some(3)), None)]));
        assert!(!possible(&[get(Some(3)), (Op::Cas(1, None, Some(3)), Some(Ret::Bool(false)))]));
        assert!(possible(&[get(Some(3)), (Op::Incr(1, 9), None)]));
        assert!(!possible(&[(Op::Delete(1), Some(Ret::Bool(true)))]));
        assert!(!possible(&[(Op::Cas(1, None, Some(1)), Some(Ret::Bool(false)))]));
        assert!(possible(&[(Op::Cas(1, None, Some(1)), Some(Ret::Bool(false))), (Op::Set(1, 0), None)]));
    }

    #[test]
    fn answers_cannot_support_each_other_in_a_circle() {
        let incr = |by, n| (Op::Incr(1, by), Some(Ret::Int(n)));
        let unreachable = |ops: &[(Op, Option<Ret>)]| {
            unreachable_answer(&ops.iter().map(|(o, r)| (o, r.as_ref())).collect::<Vec<_>>())
        };
        // Each leaves exactly what the other needs; neither can go first.
        let circle = [incr(-2, -1), incr(2, 1)];
        assert!(possible(&circle));
        assert_eq!(unreachable(&circle), Some(0));
        assert!(possible(&[incr(0, 5)]));
        assert_eq!(unreachable(&[incr(0, 5)]), Some(0));
        // A chain from the initial absence is fine, in any listed order.
        assert_eq!(unreachable(&[incr(1, 3), incr(2, 2), (Op::Get(1), Some(Ret::Value(Some(3))))]), None);
        assert_eq!(unreachable(&[(Op::Get(1), Some(Ret::Value(Some(3)))), (Op::Cas(1, None, Some(3)), None)]), None);
        // A run of two operations cannot increment three times.
        assert_eq!(unreachable(&[(Op::Incr(1, 1), None), (Op::Get(1), Some(Ret::Value(Some(1))))]), None);
        assert_eq!(unreachable(&[(Op::Incr(1, 1), None), (Op::Get(1), Some(Ret::Value(Some(3))))]), Some(1));
    }

    #[test]
    fn an_increment_needs_the_value_below_its_answer() {
        let incr = |by, n| (Op::Incr(1, by), Some(Ret::Int(n)));
        assert!(possible(&[incr(2, 2)]));
        assert!(!possible(&[incr(2, 3)]));
        assert!(possible(&[incr(2, 3), (Op::Set(1, 1), None)]));
        // No value lies `by` below the answer without overflowing.
        assert!(!possible(&[incr(1, Value::MIN)]));
        assert!(!possible(&[incr(-1, Value::MAX)]));
    }
}

#[cfg(test)]
mod transaction_tests {
    use super::*;
    use crate::history::{History, Outcome};
    use crate::linearizability::check;

    #[test]
    fn a_transaction_applies_its_operations_in_order_and_answers_each() {
        let tx = Op::Tx(1, alloc::vec![Op::Get(1), Op::Incr(1, 2), Op::Set(1, 9), Op::Get(1)]);
        let answer = Ret::Many(alloc::vec![Ret::Value(Some(1)), Ret::Int(3), Ret::Done, Ret::Value(Some(9))]);
        assert_eq!(apply(Some(1), &tx), Some((Some(9), answer.clone())));
        assert_eq!(leaves(&tx, Some(&answer)), Leaves::One(Some(9)));
        assert_eq!(leaves(&Op::Tx(1, alloc::vec![Op::Set(1, 4), Op::Get(1)]), None), Leaves::One(Some(4)));
        assert!(is_observer(&Op::Tx(1, alloc::vec![Op::Get(1)]), &Ret::Many(alloc::vec![Ret::Value(None)])));
    }

    #[test]
    fn a_watched_write_stores_only_over_what_it_read_and_may_abort_anywhere() {
        assert_eq!(step(Some(1), &Op::Watched(1, Some(1), 2), Some(&Ret::Bool(true))), Some(Some(2)));
        assert_eq!(step(Some(5), &Op::Watched(1, Some(1), 2), Some(&Ret::Bool(true))), None);
        assert_eq!(step(Some(1), &Op::Watched(1, Some(1), 2), Some(&Ret::Bool(false))), Some(Some(1)));
        assert!(is_observer(&Op::Watched(1, Some(1), 2), &Ret::Bool(false)));
    }

    fn done(h: &mut History, client: u64, op: Op, ret: Ret, at: (u64, u64)) {
        let id = h.invoke(client, op, at.0);
        h.complete(id, at.1, Outcome::Ok(ret));
    }

    /// A write that lands between a transaction's read and its write:
    /// linearizable as two commands, not as one transaction.
    #[test]
    fn the_checker_catches_a_transaction_that_was_not_atomic() {
        let mut h = History::default();
        done(&mut h, 0, Op::Set(1, 0), Ret::Done, (0, 5));
        let tx = Op::Tx(1, alloc::vec![Op::Get(1), Op::Set(1, 5)]);
        done(&mut h, 1, tx, Ret::Many(alloc::vec![Ret::Value(Some(0)), Ret::Done]), (10, 40));
        done(&mut h, 2, Op::Set(1, 3), Ret::Done, (20, 30));
        done(&mut h, 3, Op::Get(1), Ret::Value(Some(5)), (50, 60));
        assert!(!check(&h).is_linearizable(), "the read saw 0, yet the other write came after the transaction's");

        let mut split = History::default();
        done(&mut split, 0, Op::Set(1, 0), Ret::Done, (0, 5));
        done(&mut split, 1, Op::Get(1), Ret::Value(Some(0)), (10, 15));
        done(&mut split, 2, Op::Set(1, 3), Ret::Done, (20, 30));
        done(&mut split, 1, Op::Set(1, 5), Ret::Done, (35, 40));
        done(&mut split, 3, Op::Get(1), Ret::Value(Some(5)), (50, 60));
        assert!(check(&split).is_linearizable());
    }

    #[test]
    fn the_checker_catches_a_watched_write_over_a_changed_value() {
        let mut h = History::default();
        done(&mut h, 0, Op::Set(1, 2), Ret::Done, (0, 10));
        done(&mut h, 1, Op::Watched(1, Some(1), 2), Ret::Bool(true), (20, 30));
        assert!(!check(&h).is_linearizable());
        let mut aborted = History::default();
        done(&mut aborted, 0, Op::Set(1, 2), Ret::Done, (0, 10));
        done(&mut aborted, 1, Op::Watched(1, Some(2), 3), Ret::Bool(false), (20, 30));
        done(&mut aborted, 2, Op::Get(1), Ret::Value(Some(2)), (40, 50));
        assert!(check(&aborted).is_linearizable(), "an abort is allowed even over an unchanged value");
    }
}
