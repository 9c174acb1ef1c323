//! Seeded histories of clients against an atomic KV map.
//!
//! Each client issues one request at a time; each request takes effect at a
//! random instant inside its own invocation–response interval, so the
//! history is linearizable by construction, while the intervals of
//! different clients overlap at random. Some requests lose their answer
//! (the client times out and moves on; the request may or may not have
//! taken effect), some are refused. Used to measure the checker on large
//! histories and, with a planted fault, to show it still catches one.

use super::model;
use crate::history::{History, Key, Op, Operation, Outcome, Ret, Value};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use std::collections::HashMap;
use synod_core::rand::Rng;

/// The shape of a generated history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// Operations in the history.
    pub ops: usize,
    /// Concurrent clients.
    pub clients: u64,
    /// Size of the key space; small keeps keys contended.
    pub keys: u64,
    /// Values written are drawn from `0..values`; small makes CAS succeed.
    pub values: Value,
    /// Probability that a request's answer is lost.
    pub unknown: f64,
    /// Probability that a request is refused and never takes effect.
    pub failed: f64,
    /// Seed of everything random.
    pub seed: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload { ops: 10_000, clients: 16, keys: 16, values: 8, unknown: 0.01, failed: 0.01, seed: 1 }
    }
}

/// Longest time from invocation to effect and from effect to response (ns).
const LATENCY: u64 = 1_000;
/// Longest pause between a client's answer and its next request (ns).
const THINK: u64 = 200;
/// How long a client waits for a lost answer before moving on (ns).
const TIMEOUT: u64 = 5 * LATENCY;

/// One planned request.
struct Planned {
    client: u64,
    op: Op,
    invoke: u64,
    /// When it takes effect; `None` if it never does.
    effect: Option<u64>,
    complete: u64,
    end: End,
    ret: Option<Ret>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Answered,
    Lost,
    Refused,
}

/// A linearizable history of the given shape, the same for the same
/// `workload`.
pub fn generate(workload: &Workload) -> History {
    let mut rng = Rng::with_seed(workload.seed);
    let mut free_at: Vec<u64> = (0..workload.clients).map(|_| rng.below(LATENCY)).collect();
    let mut plan: Vec<Planned> = Vec::with_capacity(workload.ops);
    for _ in 0..workload.ops {
        // The client free soonest asks next, so the history grows in time.
        let Some((client, &invoke)) = free_at.iter().enumerate().min_by_key(|&(c, &t)| (t, c)) else { break };
        let op = request(&mut rng, workload);
        let effect = invoke + rng.range(1, LATENCY);
        let complete = effect + rng.range(1, LATENCY);
        let roll = rng.unit_f64();
        let (end, effect, next) = if roll < workload.unknown {
            // Lost answer: it took effect or it did not, nobody knows.
            let effect = if rng.chance(0.5) { Some(effect) } else { None };
            (End::Lost, effect, invoke + TIMEOUT)
        } else if roll < workload.unknown + workload.failed {
            (End::Refused, None, complete)
        } else {
            (End::Answered, Some(effect), complete)
        };
        free_at[client] = next + 1 + rng.below(THINK);
        plan.push(Planned { client: client as u64, op, invoke, effect, complete, end, ret: None });
    }

    // Apply the effects in time order to one atomic map: this is the
    // linearization the history is built around.
    let mut order: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].effect.is_some()).collect();
    order.sort_by_key(|&i| (plan[i].effect, i));
    let mut map: BTreeMap<Key, Value> = BTreeMap::new();
    for i in order {
        let key = plan[i].op.key();
        let before = map.get(&key).copied();
        match model::apply(before, &plan[i].op) {
            Some((after, ret)) => {
                match after {
                    Some(v) => map.insert(key, v),
                    None => map.remove(&key),
                };
                plan[i].ret = Some(ret);
            }
            // The service refuses an overflowing increment.
            None => plan[i].end = End::Refused,
        }
    }

    let mut by_invoke: Vec<usize> = (0..plan.len()).collect();
    by_invoke.sort_by_key(|&i| (plan[i].invoke, i));
    let mut history = History::default();
    for i in by_invoke {
        let p = &plan[i];
        let id = history.invoke(p.client, p.op.clone(), p.invoke);
        let outcome = match (p.end, &p.ret) {
            (End::Answered, Some(r)) => Outcome::Ok(r.clone()),
            (End::Lost, _) => Outcome::Unknown,
            _ => Outcome::Failed,
        };
        history.complete(id, p.complete, outcome);
    }
    history
}

/// A random request; reads are the most common, as in most services.
fn request(rng: &mut Rng, w: &Workload) -> Op {
    let key = rng.below(w.keys);
    let value = |rng: &mut Rng| rng.below(w.values.max(1) as u64) as Value;
    match rng.below(20) {
        0..8 => Op::Get(key),
        8..12 => Op::Set(key, value(rng)),
        12..15 => Op::Incr(key, rng.below(5) as Value - 2),
        15..18 => {
            let expected = if rng.chance(0.2) { None } else { Some(value(rng)) };
            let new = if rng.chance(0.1) { None } else { Some(value(rng)) };
            Op::Cas(key, expected, new)
        }
        _ => Op::Delete(key),
    }
}

/// Makes `history` non-linearizable with a stale read, as a canary: the
/// answered read nearest the middle that allows it now returns the value of
/// a write `w1` that a later write `w2` replaced before the read began, where
/// no operation but `w1` can ever leave that value. Returns the read's id,
/// or `None` if no read allows it (values repeat: widen
/// [`Workload::values`]).
pub fn plant_stale_read(history: &mut History) -> Option<usize> {
    let ops = &history.ops;
    // Who may leave which value behind; after an unknown increment a key
    // may hold anything.
    let mut writers: HashMap<(Key, Value), usize> = HashMap::new();
    let mut anything: Vec<(Key, u64)> = Vec::new();
    for o in ops {
        let key = o.op.key();
        let leaves = match (&o.op, &o.outcome) {
            (_, Outcome::Failed) => None,
            (Op::Incr(..), Outcome::Unknown) => {
                anything.push((key, o.invoke));
                None
            }
            (Op::Set(_, v), _) | (Op::Incr(..), Outcome::Ok(Ret::Int(v))) => Some(*v),
            (Op::Cas(_, _, Some(v)), Outcome::Unknown | Outcome::Ok(Ret::Bool(true))) => Some(*v),
            _ => None,
        };
        if let Some(v) = leaves {
            *writers.entry((key, v)).or_default() += 1;
        }
    }
    let answered_set = |o: &Operation, key: Key| match (&o.op, &o.outcome) {
        (Op::Set(k, v), Outcome::Ok(_)) if *k == key => Some(*v),
        _ => None,
    };
    let middle = ops.len() / 2;
    for g in (middle..ops.len()).chain((0..middle).rev()) {
        let read = &ops[g];
        let key = read.op.key();
        let wild = anything.iter().any(|&(k, at)| k == key && at <= read.complete);
        if !read.op.is_read() || !matches!(read.outcome, Outcome::Ok(_)) || wild {
            continue;
        }
        // w2: the last answered write of the key finished before the read.
        let Some((w2, v2)) = ops[..g]
            .iter()
            .filter(|o| o.complete < read.invoke)
            .filter_map(|o| answered_set(o, key).map(|v| (o, v)))
            .max_by_key(|(o, _)| o.complete)
        else {
            continue;
        };
        // w1: an earlier answered write, finished before w2 began, of a
        // value only it writes.
        let stale = ops[..g]
            .iter()
            .filter(|o| o.complete < w2.invoke)
            .filter_map(|o| answered_set(o, key))
            .find(|&v| v != v2 && writers.get(&(key, v)) == Some(&1));
        if let Some(v) = stale {
            history.ops[g].outcome = Outcome::Ok(Ret::Value(Some(v)));
            return Some(g);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_history() {
        let w = Workload { ops: 300, ..Workload::default() };
        assert_eq!(generate(&w), generate(&w));
        assert_ne!(generate(&w), generate(&Workload { seed: 2, ..w }));
    }

    #[test]
    fn histories_have_the_requested_shape() {
        let w = Workload { ops: 2_000, clients: 4, keys: 3, unknown: 0.05, failed: 0.05, ..Workload::default() };
        let h = generate(&w);
        assert_eq!(h.len(), 2_000);
        assert!(h.ops.windows(2).all(|p| p[0].invoke <= p[1].invoke));
        assert!(h.ops.iter().all(|o| o.client < 4 && o.op.key() < 3));
        let count = |f: fn(&Outcome) -> bool| h.ops.iter().filter(|o| f(&o.outcome)).count();
        assert!(count(|o| *o == Outcome::Unknown) > 20);
        assert!(count(|o| *o == Outcome::Failed) > 20);
        // A client has one request at a time, lost answers aside.
        for c in 0..4 {
            let mine: Vec<_> = h.ops.iter().filter(|o| o.client == c && o.outcome != Outcome::Unknown).collect();
            assert!(mine.windows(2).all(|p| p[0].complete < p[1].invoke));
        }
    }

    #[test]
    fn planting_changes_one_answered_read() {
        let mut h = generate(&Workload { ops: 400, values: 1 << 20, ..Workload::default() });
        let before = h.clone();
        let id = plant_stale_read(&mut h).expect("a read to plant on");
        assert!(h.ops[id].op.is_read());
        assert_eq!(h.ops.iter().zip(&before.ops).filter(|(a, b)| a != b).count(), 1);
        assert_eq!(plant_stale_read(&mut History::default()), None);
    }
}
