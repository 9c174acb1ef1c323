//! Round robin, smooth WRR, least connections, P2C and peak-EWMA.

use alloc::boxed::Box;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{nodes, open, run};
use crate::balance::*;
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn round_robin_cycles_and_skips_down_nodes() {
    let mut rr = RoundRobin::new(&nodes(3)).unwrap();
    assert_eq!(run(&mut rr, 7, 0, |_| ms(1)), [1, 2, 3, 1, 2, 3, 1]);
    rr.set_available(NodeId(2), false);
    assert_eq!(run(&mut rr, 4, 0, |_| ms(1)), [3, 1, 3, 1]);
    rr.set_available(NodeId(1), false);
    rr.set_available(NodeId(3), false);
    assert_eq!(rr.pick(Instant::ZERO, &mut Rng::with_seed(0)), None);
}

#[test]
fn smooth_weighted_interleaves_like_nginx() {
    // The example in nginx's commit message: weights {5, 1, 1}.
    let mut sw = SmoothWeighted::new(&[(NodeId(1), 5), (NodeId(2), 1), (NodeId(3), 1)]).unwrap();
    assert_eq!(run(&mut sw, 14, 0, |_| ms(1)), [1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1]);
    sw.set_available(NodeId(1), false);
    assert_eq!(run(&mut sw, 4, 0, |_| ms(1)), [2, 3, 2, 3]);
}

#[test]
fn least_connections_fills_the_emptiest_node_and_breaks_ties_at_random() {
    let mut lc = LeastConnections::new(&nodes(4)).unwrap();
    let picks = open(&mut lc, 12, 1);
    assert_eq!(picks, [4, 3, 1, 2, 4, 2, 3, 1, 4, 2, 3, 1]);
    // Every round of four covers all four nodes: never two ahead.
    for round in picks.chunks(4) {
        let mut r = round.to_vec();
        r.sort_unstable();
        assert_eq!(r, [1, 2, 3, 4]);
    }
    lc.report(NodeId(2), Instant::ZERO, Outcome::success(ms(1)));
    assert_eq!(lc.in_flight(NodeId(2)), Some(2));
    assert_eq!(lc.pick(Instant::ZERO, &mut Rng::with_seed(5)), Some(NodeId(2)));
    // A report for a stranger, or one too many, is ignored.
    lc.report(NodeId(99), Instant::ZERO, Outcome::success(ms(1)));
    for _ in 0..10 {
        lc.report(NodeId(1), Instant::ZERO, Outcome::failure(ms(1)));
    }
    assert_eq!(lc.in_flight(NodeId(1)), Some(0));
}

#[test]
fn power_of_two_golden_sequence_and_avoidance_of_the_loaded_node() {
    let mut p2c = PowerOfTwo::new(&nodes(4)).unwrap();
    assert_eq!(open(&mut p2c, 12, 1), [4, 1, 3, 2, 1, 4, 3, 2, 3, 4, 2, 1]);
    // A node with 100 open requests is the less loaded of a pair only
    // against another node with as many; here it is never chosen.
    let mut p2c = PowerOfTwo::new(&nodes(4)).unwrap();
    for n in 2..=4 {
        p2c.set_available(NodeId(n), false);
    }
    open(&mut p2c, 100, 3);
    for n in 2..=4 {
        p2c.set_available(NodeId(n), true);
    }
    assert_eq!(p2c.in_flight(NodeId(1)), Some(100));
    let picks = run(&mut p2c, 1000, 4, |_| ms(1));
    assert!(!picks.contains(&1));
    p2c.set_available(NodeId(2), false);
    p2c.set_available(NodeId(3), false);
    p2c.set_available(NodeId(4), false);
    assert_eq!(run(&mut p2c, 3, 5, |_| ms(1)), [1, 1, 1]);
}

#[test]
fn peak_ewma_prefers_fast_nodes_and_reacts_to_a_slowdown_at_once() {
    let mut ew = PeakEwma::new(&nodes(4), PeakEwmaConfig::default(), Instant::ZERO).unwrap();
    // Node i answers in 10·i ms.
    assert_eq!(run(&mut ew, 16, 1, |n| ms(n.get() * 10)), [4, 1, 3, 2, 1, 2, 1, 1, 3, 2, 2, 1, 1, 1, 3, 2]);
    let mut ew = PeakEwma::new(&nodes(2), PeakEwmaConfig::default(), Instant::ZERO).unwrap();
    let t = Instant::from_millis(1);
    ew.report(NodeId(1), t, Outcome::success(ms(5)));
    ew.report(NodeId(2), t, Outcome::success(ms(20)));
    // The peak: one slow answer replaces a fast estimate immediately.
    ew.report(NodeId(1), t, Outcome::success(ms(500)));
    assert_eq!(ew.estimate(NodeId(1), t), Some(ms(500)));
    assert_eq!(run(&mut ew, 5, 2, |_| ms(20)), [2, 2, 2, 2, 2]);
    // Fast answers pull it down gradually, weighted by e^(-Δt/τ).
    let later = t + Duration::from_secs(10);
    ew.report(NodeId(1), later, Outcome::success(ms(5)));
    let e = ew.estimate(NodeId(1), later).unwrap();
    let expected = 500.0 * libm::exp(-1.0) + 5.0 * (1.0 - libm::exp(-1.0));
    assert!((e.as_secs_f64() * 1000.0 - expected).abs() < 0.01, "{e:?}");
    // While idle the estimate decays, so an avoided node is retried.
    assert!(ew.estimate(NodeId(1), later + Duration::from_secs(60)).unwrap() < ms(1));
}

#[test]
fn every_balancer_is_object_safe_and_empty_when_all_are_down() {
    let now = Instant::ZERO;
    let all: Vec<Box<dyn Balancer>> = Vec::from([
        Box::new(RoundRobin::new(&nodes(2)).unwrap()) as Box<dyn Balancer>,
        Box::new(SmoothWeighted::new(&[(NodeId(1), 2), (NodeId(2), 1)]).unwrap()),
        Box::new(LeastConnections::new(&nodes(2)).unwrap()),
        Box::new(PowerOfTwo::new(&nodes(2)).unwrap()),
        Box::new(PeakEwma::new(&nodes(2), PeakEwmaConfig::default(), now).unwrap()),
        Box::new(
            OutlierEjection::new(RoundRobin::new(&nodes(2)).unwrap(), &nodes(2), OutlierConfig::default(), now)
                .unwrap(),
        ),
    ]);
    for mut b in all {
        assert!(b.pick(now, &mut Rng::with_seed(0)).is_some());
        b.set_available(NodeId(1), false);
        b.set_available(NodeId(2), false);
        b.set_available(NodeId(3), false);
        assert_eq!(b.pick(now, &mut Rng::with_seed(0)), None);
        b.set_available(NodeId(2), true);
        assert_eq!(b.pick(now, &mut Rng::with_seed(0)), Some(NodeId(2)));
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    assert_eq!(RoundRobin::new(&[]).unwrap_err(), BuildError::Empty);
    assert_eq!(PowerOfTwo::new(&[NodeId(1), NodeId(1)]).unwrap_err(), BuildError::DuplicateNode(NodeId(1)));
    assert_eq!(SmoothWeighted::new(&[(NodeId(1), 0)]).unwrap_err(), BuildError::ZeroWeight(NodeId(1)));
    assert_eq!(SmoothWeighted::new(&[]).unwrap_err(), BuildError::Empty);
    let zero = PeakEwmaConfig { decay: Duration::ZERO, ..PeakEwmaConfig::default() };
    assert!(matches!(PeakEwma::new(&nodes(1), zero, Instant::ZERO), Err(BuildError::InvalidConfig(_))));
}

/// nginx's loop, written out plainly: the reference the schedule must match.
fn nginx_reference(weights: &[u32], picks: usize) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let mut current = alloc::vec![0i64; weights.len()];
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for (i, w) in weights.iter().enumerate() {
                current[i] += i64::from(*w);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best as u64
        })
        .collect()
}

#[test]
fn smooth_weighted_past_the_schedule_limit_runs_live_and_alike() {
    // Σw = 5002 > MAX_SCHEDULE: no precomputed period.
    let weights = [5000, 1, 1];
    let pairs: Vec<(NodeId, u32)> = weights.iter().enumerate().map(|(i, w)| (NodeId(i as u64), *w)).collect();
    let mut sw = SmoothWeighted::new(&pairs).unwrap();
    const { assert!(5002 > MAX_SCHEDULE) };
    assert_eq!(run(&mut sw, 12_000, 0, |_| ms(1)), nginx_reference(&weights, 12_000));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn smooth_weighted_matches_nginx_across_availability_changes(
        weights in proptest::collection::vec(1u32..40, 1..8),
        flip in any::<prop::sample::Index>(),
    ) {
        let pairs: Vec<(NodeId, u32)> = weights.iter().enumerate().map(|(i, w)| (NodeId(i as u64), *w)).collect();
        let mut sw = SmoothWeighted::new(&pairs).unwrap();
        let total: usize = weights.iter().map(|w| *w as usize).sum();
        prop_assert_eq!(run(&mut sw, 2 * total + 3, 0, |_| ms(1)), nginx_reference(&weights, 2 * total + 3));
        // One node down: a fresh cycle over the others.
        let gone = flip.index(weights.len());
        sw.set_available(NodeId(gone as u64), false);
        let rest: Vec<u32> = weights.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, w)| *w).collect();
        let ids: Vec<u64> = (0..weights.len() as u64).filter(|i| *i as usize != gone).collect();
        let expected: Vec<u64> = nginx_reference(&rest, 50).into_iter().map(|i| ids[i as usize]).collect();
        prop_assert_eq!(run(&mut sw, 50, 0, |_| ms(1)), expected);
    }

    #[test]
    fn smooth_weighted_matches_its_weights_over_every_window(weights in proptest::collection::vec(1u32..12, 1..8)) {
        let pairs: Vec<(NodeId, u32)> = weights.iter().enumerate().map(|(i, w)| (NodeId(i as u64), *w)).collect();
        let total: usize = weights.iter().map(|w| *w as usize).sum();
        let mut sw = SmoothWeighted::new(&pairs).unwrap();
        let picks = run(&mut sw, 3 * total, 0, |_| ms(1));
        for window in picks.windows(total) {
            for (i, w) in weights.iter().enumerate() {
                let got = window.iter().filter(|n| **n == i as u64).count();
                prop_assert_eq!(got, *w as usize, "window {:?}", window);
            }
        }
    }

    #[test]
    fn no_balancer_picks_a_down_node(down in proptest::collection::vec(any::<bool>(), 6), seed in any::<u64>()) {
        let ids = nodes(6);
        let now = Instant::ZERO;
        let weighted: Vec<(NodeId, u32)> = ids.iter().map(|n| (*n, n.get() as u32)).collect();
        let mut all: Vec<Box<dyn Balancer>> = Vec::from([
            Box::new(RoundRobin::new(&ids).unwrap()) as Box<dyn Balancer>,
            Box::new(SmoothWeighted::new(&weighted).unwrap()),
            Box::new(LeastConnections::new(&ids).unwrap()),
            Box::new(PowerOfTwo::new(&ids).unwrap()),
            Box::new(PeakEwma::new(&ids, PeakEwmaConfig::default(), now).unwrap()),
        ]);
        for b in &mut all {
            for (n, d) in ids.iter().zip(&down) {
                b.set_available(*n, !*d);
            }
            let picks = run(b.as_mut(), 50, seed, |n| ms(n.get()));
            prop_assert_eq!(picks.is_empty(), down.iter().all(|d| *d));
            for p in picks {
                prop_assert!(!down[(p - 1) as usize]);
            }
        }
    }
}
