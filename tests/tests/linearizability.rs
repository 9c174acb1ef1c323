//! Scenarios the linearizability checker must reject, and ones it must
//! accept. The rejections are its canaries: a checker that stops catching
//! them has lost its teeth.

use synod_tests::history::{History, Op, Outcome, Ret};
use synod_tests::linearizability::{Options, Verdict, check, check_with};

/// A history of `(op, invoke, complete, outcome)`, one client each.
fn history(ops: &[(Op, u64, u64, Outcome)]) -> History {
    let mut h = History::default();
    for (client, (op, invoke, complete, outcome)) in ops.iter().enumerate() {
        let id = h.invoke(client as u64, op.clone(), *invoke);
        h.complete(id, *complete, outcome.clone());
    }
    h
}

fn ok(r: Ret) -> Outcome {
    Outcome::Ok(r)
}

fn got(v: Option<i64>) -> Outcome {
    Outcome::Ok(Ret::Value(v))
}

const DONE: Outcome = Outcome::Ok(Ret::Done);
const UNKNOWN: Outcome = Outcome::Unknown;
const FAILED: Outcome = Outcome::Failed;

/// Asserts the history is rejected on `key`, and that the conflict reported
/// is exactly the operations with ids `conflict`.
fn rejects(ops: &[(Op, u64, u64, Outcome)], key: u64, conflict: &[usize]) {
    let h = history(ops);
    let verdict = check(&h);
    let Some(why) = verdict.violation() else { panic!("accepted a non-linearizable history: {h:?}") };
    assert_eq!(why.key, key, "{why}");
    assert_eq!(why.conflict.iter().map(|o| o.id).collect::<Vec<_>>(), conflict, "{why}");
    assert!(why.minimal, "{why}");
}

fn accepts(ops: &[(Op, u64, u64, Outcome)]) {
    let h = history(ops);
    assert_eq!(check(&h), Verdict::Linearizable, "{h:?}");
}

#[test]
fn rejects_a_stale_read_after_an_acknowledged_write() {
    rejects(
        &[
            (Op::Set(1, 1), 0, 10, DONE),
            (Op::Set(1, 2), 20, 30, DONE),
            (Op::Get(1), 40, 50, got(Some(1))),
            (Op::Get(2), 40, 50, got(None)),
        ],
        1,
        &[0, 1, 2],
    );
}

#[test]
fn rejects_a_lost_increment() {
    // Two increments one after the other both claim to have made it 1.
    rejects(&[(Op::Incr(3, 1), 0, 10, ok(Ret::Int(1))), (Op::Incr(3, 1), 20, 30, ok(Ret::Int(1)))], 3, &[0, 1]);
}

#[test]
fn rejects_a_lost_write() {
    // The second write was acknowledged, yet a later read sees the first
    // one and a delete finds the key with the first value.
    rejects(
        &[
            (Op::Set(1, 1), 0, 10, DONE),
            (Op::Set(1, 2), 20, 30, DONE),
            (Op::Cas(1, Some(1), Some(3)), 40, 50, ok(Ret::Bool(true))),
        ],
        1,
        &[0, 1, 2],
    );
}

#[test]
fn rejects_a_delete_that_did_not_stick() {
    rejects(
        &[
            (Op::Set(1, 1), 0, 10, DONE),
            (Op::Delete(1), 20, 30, ok(Ret::Bool(true))),
            (Op::Get(1), 40, 50, got(Some(1))),
        ],
        1,
        &[0, 1, 2],
    );
}

#[test]
fn rejects_reordered_compare_and_sets() {
    // 1 -> 2 succeeded and finished before absent -> 1 even began.
    rejects(
        &[
            (Op::Cas(5, Some(1), Some(2)), 0, 10, ok(Ret::Bool(true))),
            (Op::Cas(5, None, Some(1)), 20, 30, ok(Ret::Bool(true))),
        ],
        5,
        &[0, 1],
    );
}

#[test]
fn rejects_a_read_of_a_value_from_the_future() {
    rejects(&[(Op::Get(1), 0, 10, got(Some(5))), (Op::Set(1, 5), 20, 30, DONE)], 1, &[0, 1]);
}

#[test]
fn rejects_increments_whose_results_contradict_their_order() {
    // The last increment began after the one that reached 2 had finished,
    // yet it reached 2 as well; the one reaching 3 is not even needed.
    rejects(
        &[
            (Op::Incr(1, 1), 0, 10, ok(Ret::Int(1))),
            (Op::Incr(1, 1), 20, 30, ok(Ret::Int(3))),
            (Op::Incr(1, 1), 15, 35, ok(Ret::Int(2))),
            (Op::Incr(1, 1), 40, 50, ok(Ret::Int(2))),
        ],
        1,
        &[0, 2, 3],
    );
}

#[test]
fn rejects_a_new_then_old_read_inversion() {
    // A slow write may be seen or not by concurrent reads, but once one
    // read saw it, a read that starts later cannot miss it.
    rejects(
        &[(Op::Set(1, 1), 0, 100, DONE), (Op::Get(1), 10, 20, got(Some(1))), (Op::Get(1), 30, 40, got(None))],
        1,
        &[0, 1, 2],
    );
}

#[test]
fn rejects_an_unknown_write_undone() {
    // It may or may not have happened, but not both.
    rejects(
        &[(Op::Set(1, 5), 0, 0, UNKNOWN), (Op::Get(1), 10, 20, got(Some(5))), (Op::Get(1), 30, 40, got(None))],
        1,
        &[0, 1, 2],
    );
}

#[test]
fn rejects_an_unknown_write_seen_before_its_invocation() {
    rejects(&[(Op::Get(1), 0, 10, got(Some(7))), (Op::Set(1, 7), 20, 0, UNKNOWN)], 1, &[0, 1]);
}

#[test]
fn rejects_a_failed_write_that_took_effect() {
    // Failed means refused before it was proposed: nothing wrote 7. Reported
    // without any search, as the one read alone.
    rejects(&[(Op::Set(1, 7), 0, 10, FAILED), (Op::Get(1), 20, 30, got(Some(7)))], 1, &[1]);
}

#[test]
fn rejects_an_answer_of_the_wrong_kind() {
    rejects(&[(Op::Set(1, 7), 0, 10, ok(Ret::Bool(true)))], 1, &[0]);
}

#[test]
fn reports_the_failing_key_and_explains_it() {
    let h = history(&[
        (Op::Set(4, 1), 0, 10, DONE),
        (Op::Set(9, 1), 0, 10, DONE),
        (Op::Get(9), 20, 30, got(Some(1))),
        (Op::Set(4, 2), 20, 30, DONE),
        (Op::Get(4), 40, 50, got(Some(1))),
    ]);
    let Verdict::NotLinearizable(why) = check(&h) else { panic!("stale read accepted") };
    assert_eq!(why.key, 4);
    assert_eq!(why.key_ops, 3);
    assert_eq!(why.state, Some(2));
    assert_eq!(why.stuck.iter().map(|o| o.id).collect::<Vec<_>>(), [4]);
    let text = why.to_string();
    for line in [
        "key 4 is not linearizable",
        "these 3 operations alone admit no linearization, each of them needed:",
        "#0 client 0 [0, 10] set(4, 1) -> done",
        "#3 client 3 [20, 30] set(4, 2) -> done",
        "#4 client 4 [40, 50] get(4) -> 1 (here it would answer 2)",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn accepts_overlapping_writes_in_either_order() {
    for last in [1, 2] {
        accepts(&[
            (Op::Set(1, 1), 0, 10, DONE),
            (Op::Set(1, 2), 5, 15, DONE),
            (Op::Get(1), 20, 30, got(Some(last))),
            (Op::Get(1), 40, 50, got(Some(last))),
        ]);
    }
}

#[test]
fn accepts_reads_concurrent_with_a_write_seeing_either_value() {
    accepts(&[(Op::Set(1, 1), 0, 100, DONE), (Op::Get(1), 10, 20, got(None)), (Op::Get(1), 30, 40, got(Some(1)))]);
    accepts(&[(Op::Set(1, 1), 0, 100, DONE), (Op::Get(1), 10, 20, got(Some(1))), (Op::Get(1), 10, 20, got(None))]);
}

#[test]
fn accepts_unknown_writes_that_did_or_did_not_happen() {
    accepts(&[(Op::Set(1, 5), 0, 0, UNKNOWN), (Op::Get(1), 100, 110, got(Some(5)))]);
    accepts(&[(Op::Set(1, 5), 0, 0, UNKNOWN), (Op::Get(1), 100, 110, got(None))]);
    // Happened late: after the first read, long after it was sent.
    accepts(&[(Op::Set(1, 5), 0, 0, UNKNOWN), (Op::Get(1), 100, 110, got(None)), (Op::Get(1), 200, 210, got(Some(5)))]);
    // Happened after a later acknowledged write: it is never "complete".
    accepts(&[(Op::Set(1, 5), 0, 0, UNKNOWN), (Op::Set(1, 6), 10, 20, DONE), (Op::Get(1), 30, 40, got(Some(5)))]);
}

#[test]
fn accepts_identical_unknown_operations_that_all_happened() {
    let incr = (Op::Incr(1, 1), 0, 0, UNKNOWN);
    accepts(&[incr.clone(), incr.clone(), incr.clone(), (Op::Get(1), 50, 60, got(Some(3)))]);
    rejects(&[incr.clone(), incr, (Op::Get(1), 50, 60, got(Some(3)))], 1, &[0, 1, 2]);
}

#[test]
fn accepts_the_full_kv_semantics() {
    accepts(&[
        (Op::Incr(1, 2), 0, 10, ok(Ret::Int(2))),
        (Op::Cas(1, Some(2), Some(7)), 20, 30, ok(Ret::Bool(true))),
        (Op::Cas(1, Some(2), Some(8)), 40, 50, ok(Ret::Bool(false))),
        (Op::Delete(1), 60, 70, ok(Ret::Bool(true))),
        (Op::Delete(1), 80, 90, ok(Ret::Bool(false))),
        (Op::Cas(1, None, None), 100, 110, ok(Ret::Bool(true))),
        (Op::Get(1), 120, 130, got(None)),
        (Op::Incr(1, -4), 140, 150, ok(Ret::Int(-4))),
    ]);
}

#[test]
fn ignores_failed_operations_and_unknown_reads() {
    accepts(&[
        (Op::Set(1, 1), 0, 10, FAILED),
        (Op::Get(1), 0, 0, UNKNOWN),
        (Op::Get(1), 20, 30, got(None)),
        (Op::Incr(1, 1), 40, 50, FAILED),
    ]);
}

#[test]
fn equal_timestamps_count_as_concurrent() {
    // The read began the instant the write was acknowledged: either order.
    accepts(&[(Op::Set(1, 1), 0, 10, DONE), (Op::Get(1), 10, 20, got(None))]);
    rejects(&[(Op::Set(1, 1), 0, 10, DONE), (Op::Get(1), 11, 20, got(None))], 1, &[0, 1]);
}

#[test]
fn an_empty_history_is_linearizable() {
    assert_eq!(check(&History::default()), Verdict::Linearizable);
}

#[test]
fn a_spent_budget_gives_unknown_rather_than_a_guess() {
    // Sixteen concurrent writes and reads of one key take more than one step.
    let ops: Vec<_> = (0..16)
        .map(|i| if i % 2 == 0 { (Op::Set(1, i), 0, 100, DONE) } else { (Op::Get(1), 0, 100, got(Some(i - 1))) })
        .collect();
    let h = history(&ops);
    let tight = check_with(&h, &Options { max_steps: 1, ..Options::default() });
    assert_eq!(tight.verdict, Verdict::Unknown { key: 1 });
    assert_eq!(tight.steps, 1);
    let report = check_with(&h, &Options::default());
    assert_eq!(report.verdict, Verdict::Linearizable);
    assert_eq!(report.keys, 1);
    assert!(report.steps >= 16);
}

#[test]
fn a_violation_on_another_key_beats_a_spent_budget() {
    let mut ops: Vec<_> = (0..16).map(|i| (Op::Set(1, i), 0, 100, DONE)).collect();
    ops.push((Op::Get(1), 200, 210, got(Some(3))));
    ops.push((Op::Incr(2, 1), 0, 10, ok(Ret::Int(2))));
    let report = check_with(&history(&ops), &Options { max_steps: 3, ..Options::default() });
    assert_eq!(report.verdict.violation().map(|v| v.key), Some(2));
}

#[test]
fn generated_histories_are_linearizable() {
    use synod_tests::linearizability::workload::{Workload, generate};
    let shapes = [
        Workload { ops: 3_000, clients: 16, keys: 16, ..Workload::default() },
        Workload { ops: 1_000, clients: 16, keys: 2, unknown: 0.05, ..Workload::default() },
        Workload { ops: 500, clients: 8, keys: 1, unknown: 0.2, failed: 0.1, ..Workload::default() },
    ];
    for shape in shapes {
        for seed in 1..=3 {
            let h = generate(&Workload { seed, ..shape });
            let report = check_with(&h, &Options::default());
            assert_eq!(report.verdict, Verdict::Linearizable, "seed {seed} of {shape:?}");
            assert_eq!(report.keys as u64, shape.keys);
        }
    }
}

#[test]
fn a_stale_read_planted_in_a_generated_history_is_caught_and_named() {
    use synod_tests::linearizability::workload::{Workload, generate, plant_stale_read};
    for seed in 1..=3 {
        let mut h = generate(&Workload { ops: 2_000, keys: 4, values: 1 << 20, seed, ..Workload::default() });
        let planted = plant_stale_read(&mut h).expect("a read to plant on");
        let Verdict::NotLinearizable(why) = check(&h) else { panic!("seed {seed}: planted stale read missed") };
        assert_eq!(why.key, h.ops[planted].op.key());
        assert!(why.minimal, "{why}");
        // The stale read, the write it saw and one that replaced it.
        assert_eq!(why.conflict.len(), 3, "{why}");
        assert!(why.conflict.iter().any(|o| o.id == planted), "{why}");
    }
}
