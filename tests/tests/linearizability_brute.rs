//! The checker against the brute-force reference on small random histories.
//!
//! Returns are drawn partly from a real linearization and partly at random,
//! so both verdicts come up (a test below makes sure they do); the
//! reference enumerates every real-time-respecting order of every subset
//! of the unknown operations over the whole multi-key map, so it also
//! checks the per-key split.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
extern crate alloc;

use alloc::collections::BTreeMap;
use synod_tests::history::{History, Key, Op, Outcome, Ret, Value};
use synod_tests::linearizability::{Verdict, brute, check, model};

/// One operation before the history is built.
#[derive(Clone, Debug)]
struct Spec {
    op: Op,
    invoke: u64,
    length: u64,
    /// Where in its interval it takes effect, in percent.
    at: u64,
    end: End,
    /// Replaces the true answer when set.
    lie: Option<Ret>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Ok,
    /// Unknown, and whether it took effect.
    Unknown(bool),
    Failed,
}

fn value() -> impl Strategy<Value = Value> {
    0..3 as Value
}

fn op(keys: Key) -> impl Strategy<Value = Op> {
    let key = 0..keys;
    prop_oneof![
        3 => key.clone().prop_map(Op::Get),
        2 => (key.clone(), value()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => key.clone().prop_map(Op::Delete),
        1 => (key.clone(), -1..3 as Value).prop_map(|(k, by)| Op::Incr(k, by)),
        2 => (key, proptest::option::of(value()), proptest::option::of(value()))
            .prop_map(|(k, e, n)| Op::Cas(k, e, n)),
    ]
}

fn ret() -> impl Strategy<Value = Ret> {
    prop_oneof![
        proptest::option::of(value()).prop_map(Ret::Value),
        Just(Ret::Done),
        (-2..5 as Value).prop_map(Ret::Int),
        any::<bool>().prop_map(Ret::Bool),
    ]
}

fn spec(keys: Key) -> impl Strategy<Value = Spec> {
    let end = prop_oneof![6 => Just(End::Ok), 2 => any::<bool>().prop_map(End::Unknown), 1 => Just(End::Failed)];
    let lie = prop_oneof![4 => Just(None), 1 => ret().prop_map(Some)];
    (op(keys), 0..20u64, 0..10u64, 0..=100u64, end, lie).prop_map(|(op, invoke, length, at, end, lie)| Spec {
        op,
        invoke,
        length,
        at,
        end,
        lie,
    })
}

/// Up to seven operations on one or two keys.
fn history() -> impl Strategy<Value = History> {
    (1..=2 as Key).prop_flat_map(|keys| proptest::collection::vec(spec(keys), 1..=7)).prop_map(build)
}

/// Applies the operations that take effect, at their chosen instants, to
/// an atomic map; the answers are the map's unless a spec lies.
fn build(mut specs: Vec<Spec>) -> History {
    specs.sort_by_key(|s| s.invoke);
    let effect = |s: &Spec| s.invoke + s.length * s.at / 100;
    let mut order: Vec<usize> =
        (0..specs.len()).filter(|&i| matches!(specs[i].end, End::Ok | End::Unknown(true))).collect();
    order.sort_by_key(|&i| (effect(&specs[i]), i));
    let mut answers: Vec<Option<Ret>> = vec![None; specs.len()];
    let mut map: BTreeMap<Key, Value> = BTreeMap::new();
    for i in order {
        let key = specs[i].op.key();
        if let Some((after, ret)) = model::apply(map.get(&key).copied(), &specs[i].op) {
            match after {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
            answers[i] = Some(ret);
        }
    }
    let mut h = History::default();
    for (i, s) in specs.iter().enumerate() {
        let id = h.invoke(i as u64, s.op.clone(), s.invoke);
        let outcome = match (s.end, &s.lie, &answers[i]) {
            (End::Ok, Some(lie), _) => Outcome::Ok(lie.clone()),
            (End::Ok, None, Some(r)) => Outcome::Ok(r.clone()),
            (End::Unknown(_), ..) => Outcome::Unknown,
            _ => Outcome::Failed,
        };
        h.complete(id, s.invoke + s.length, outcome);
    }
    h
}

/// A history of just these operations, renumbered.
fn alone(ops: &[synod_tests::history::Operation]) -> History {
    let mut h = History::default();
    for o in ops {
        let id = h.invoke(o.client, o.op.clone(), o.invoke);
        h.complete(id, o.complete, o.outcome.clone());
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn agrees_with_brute_force(h in history()) {
        let verdict = check(&h);
        let reference = brute::is_linearizable(&h);
        prop_assert!(!matches!(verdict, Verdict::Unknown { .. }), "budget ran out on {h:?}");
        prop_assert_eq!(verdict.is_linearizable(), reference, "{:?}\n{:?}", h, verdict);
        if let Some(why) = verdict.violation() {
            // The explanation holds up on its own.
            prop_assert!(!brute::is_linearizable(&alone(&why.conflict)), "{why}");
            prop_assert!(why.conflict.iter().all(|o| o.op.key() == why.key));
        }
    }
}

#[test]
fn random_histories_cover_both_verdicts() {
    let mut runner = TestRunner::deterministic();
    let strategy = history();
    let mut linearizable = 0;
    let total = 500;
    for _ in 0..total {
        let h = strategy.new_tree(&mut runner).expect("a history").current();
        linearizable += usize::from(brute::is_linearizable(&h));
    }
    // Neither verdict may be rare, or the property above proves little.
    assert!(linearizable > total / 5, "only {linearizable} of {total} linearizable");
    assert!(linearizable < total * 4 / 5, "{linearizable} of {total} linearizable");
}
