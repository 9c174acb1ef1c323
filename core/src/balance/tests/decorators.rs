//! Outlier ejection and zone-aware picking.

use alloc::vec;
use alloc::vec::Vec;

use super::{nodes, run};
use crate::balance::*;
use crate::id::{NodeId, ZoneId};
use crate::rand::Rng;
use crate::time::{Duration, Instant};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn fail(b: &mut impl Balancer, node: NodeId, now: Instant, times: u32) {
    for _ in 0..times {
        b.report(node, now, Outcome::failure(Duration::from_millis(1)));
    }
}

fn ejector(n: u64, config: OutlierConfig) -> OutlierEjection<RoundRobin> {
    OutlierEjection::new(RoundRobin::new(&nodes(n)).unwrap(), &nodes(n), config, Instant::ZERO).unwrap()
}

#[test]
fn consecutive_failures_eject_for_a_growing_time() {
    let config = OutlierConfig { max_ejected_percent: 50, ..OutlierConfig::default() };
    let mut b = ejector(3, config);
    let t0 = Instant::from_millis(1);
    fail(&mut b, NodeId(2), t0, 4);
    b.report(NodeId(2), t0, Outcome::success(Duration::from_millis(1)));
    fail(&mut b, NodeId(2), t0, 4);
    assert!(!b.is_ejected(NodeId(2), t0), "a success resets the count");
    fail(&mut b, NodeId(2), t0, 1);
    assert!(b.is_ejected(NodeId(2), t0));
    let mut rng = Rng::with_seed(0);
    for _ in 0..6 {
        assert_ne!(b.pick(t0, &mut rng), Some(NodeId(2)));
    }
    // Back after base_ejection (30 s)...
    let t1 = t0 + secs(30);
    assert!(!b.is_ejected(NodeId(2), t1));
    let picks: Vec<_> = (0..3).filter_map(|_| b.pick(t1, &mut rng)).collect();
    assert!(picks.contains(&NodeId(2)));
    // ...and out for twice as long the second time.
    fail(&mut b, NodeId(2), t1, 5);
    assert!(b.is_ejected(NodeId(2), t1 + secs(59)));
    assert!(!b.is_ejected(NodeId(2), t1 + secs(60)));
}

#[test]
fn at_most_max_ejected_percent_but_at_least_one_node_is_ejected() {
    let mut b = ejector(4, OutlierConfig::default());
    let t = Instant::from_millis(1);
    for n in 1..=4 {
        fail(&mut b, NodeId(n), t, 5);
    }
    // 10% of 4 rounds down to 0, but one may always go.
    let ejected = (1..=4).filter(|n| b.is_ejected(NodeId(*n), t)).count();
    assert_eq!(ejected, 1);
    assert!(b.pick(t, &mut Rng::with_seed(0)).is_some());
}

#[test]
fn success_rate_outliers_are_ejected_at_the_end_of_an_interval() {
    let config = OutlierConfig { consecutive_failures: 0, ..OutlierConfig::default() };
    let mut b = ejector(6, config);
    let t = Instant::from_millis(1);
    for n in 1..=6 {
        // Node 6 fails half its requests, the others one in a hundred;
        // never in a row, so only the success-rate check can catch it.
        for i in 0..200u32 {
            let ok = if n == 6 { i % 2 == 0 } else { i % 100 != 0 };
            b.report(NodeId(n), t, Outcome { latency: Duration::from_millis(1), success: ok });
        }
    }
    assert!(!b.is_ejected(NodeId(6), t));
    let end = Instant::ZERO + secs(10);
    b.pick(end, &mut Rng::with_seed(0));
    assert!(b.is_ejected(NodeId(6), end));
    assert!((1..=5).all(|n| !b.is_ejected(NodeId(n), end)));
}

#[test]
fn caller_marks_and_ejection_combine() {
    let config = OutlierConfig { max_ejected_percent: 100, ..OutlierConfig::default() };
    let mut b = ejector(2, config);
    let t = Instant::from_millis(1);
    fail(&mut b, NodeId(1), t, 5);
    b.set_available(NodeId(1), false);
    // Ejection ends, but the caller still says down.
    let later = t + secs(31);
    assert_eq!(run(&mut b, 3, 0, |_| Duration::from_millis(1)).len(), 3);
    let mut rng = Rng::with_seed(0);
    assert!((0..4).all(|_| b.pick(later, &mut rng) == Some(NodeId(2))));
    b.set_available(NodeId(1), true);
    assert!((0..4).any(|_| b.pick(later, &mut rng) == Some(NodeId(1))));
}

#[test]
fn outlier_config_is_checked() {
    let bad = [
        OutlierConfig { interval: Duration::ZERO, ..OutlierConfig::default() },
        OutlierConfig { max_ejected_percent: 101, ..OutlierConfig::default() },
        OutlierConfig { success_rate_stdev_factor: f64::NAN, ..OutlierConfig::default() },
    ];
    for config in bad {
        let r = OutlierEjection::new(RoundRobin::new(&nodes(2)).unwrap(), &nodes(2), config, Instant::ZERO);
        assert!(matches!(r, Err(BuildError::InvalidConfig(_))));
    }
}

fn zones(min_local: f64) -> ZoneAware<RoundRobin> {
    let zone = |id: u64, ns: &[u64]| {
        let nodes: Vec<NodeId> = ns.iter().map(|n| NodeId(*n)).collect();
        Zone { id: ZoneId(id), balancer: RoundRobin::new(&nodes).unwrap(), nodes }
    };
    ZoneAware::new(ZoneId(1), vec![zone(1, &[1, 2]), zone(2, &[3, 4, 5]), zone(3, &[6])], min_local).unwrap()
}

#[test]
fn zone_aware_stays_local_while_the_local_zone_is_healthy() {
    let mut b = zones(0.5);
    assert_eq!(run(&mut b, 6, 0, |_| Duration::from_millis(1)), [1, 2, 1, 2, 1, 2]);
    b.set_available(NodeId(1), false);
    // One of two is exactly the threshold: still local.
    assert_eq!(run(&mut b, 3, 0, |_| Duration::from_millis(1)), [2, 2, 2]);
}

#[test]
fn zone_aware_spills_in_proportion_to_healthy_nodes() {
    let mut b = zones(0.6);
    b.set_available(NodeId(1), false);
    let picks = run(&mut b, 4000, 7, |_| Duration::from_millis(1));
    let share = |lo: u64, hi: u64| picks.iter().filter(|p| (lo..=hi).contains(*p)).count() as f64 / 4000.0;
    // Healthy: one local, three in zone 2, one in zone 3.
    assert!((share(1, 2) - 0.2).abs() < 0.03, "{}", share(1, 2));
    assert!((share(3, 5) - 0.6).abs() < 0.03, "{}", share(3, 5));
    assert!((share(6, 6) - 0.2).abs() < 0.03, "{}", share(6, 6));
    assert!(!picks.contains(&1));
    for n in 2..=6 {
        b.set_available(NodeId(n), false);
    }
    assert_eq!(b.pick(Instant::ZERO, &mut Rng::with_seed(0)), None);
}

#[test]
fn zone_aware_rejects_bad_layouts() {
    let rr = |ns: &[NodeId]| RoundRobin::new(ns).unwrap();
    let z = |id, ns: Vec<NodeId>| Zone { id: ZoneId(id), balancer: rr(&ns), nodes: ns };
    let dup_node = ZoneAware::new(ZoneId(1), vec![z(1, nodes(2)), z(2, nodes(1))], 0.5);
    assert_eq!(dup_node.unwrap_err(), BuildError::DuplicateNode(NodeId(1)));
    let no_local = ZoneAware::new(ZoneId(9), vec![z(1, nodes(2))], 0.5);
    assert!(matches!(no_local, Err(BuildError::InvalidConfig(_))));
    let dup_zone = ZoneAware::new(ZoneId(1), vec![z(1, nodes(1)), z(1, vec![NodeId(5)])], 0.5);
    assert!(matches!(dup_zone, Err(BuildError::InvalidConfig(_))));
    assert_eq!(ZoneAware::<RoundRobin>::new(ZoneId(1), vec![], 0.5).unwrap_err(), BuildError::Empty);
    assert!(matches!(ZoneAware::new(ZoneId(1), vec![z(1, nodes(1))], 1.5), Err(BuildError::InvalidConfig(_))));
}

#[test]
fn a_whole_interval_in_service_shortens_the_next_ejection() {
    let mut b = ejector(3, OutlierConfig { max_ejected_percent: 50, ..OutlierConfig::default() });
    fail(&mut b, NodeId(1), Instant::ZERO, 5);
    // Returns at 30 s, which earns nothing; the interval from 30 s to 40 s
    // is spent wholly in service: the multiplier drops back to 1×.
    let mut rng = Rng::with_seed(0);
    for s in [30, 40, 50] {
        b.pick(Instant::ZERO + secs(s), &mut rng);
    }
    let t = Instant::ZERO + secs(50);
    fail(&mut b, NodeId(1), t, 5);
    assert!(b.is_ejected(NodeId(1), t + secs(29)));
    assert!(!b.is_ejected(NodeId(1), t + secs(30)));
}
