//! synod-core and the peer crates compute the same thing where the
//! algorithm leaves no freedom: jump hash and nginx's smooth WRR.

use core::num::NonZeroU32;

use synod_bench::{keys, max_over_mean, moved, nodes};
use synod_core::balance::{Balancer, SmoothWeighted};
use synod_core::hash::jump_bucket;
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::time::Instant;
use weighted_rs::Weight;

#[test]
fn jump_buckets_match_both_peer_crates() {
    for key in keys(2000, 3) {
        for n in 1..200u32 {
            let ours = jump_bucket(key, NonZeroU32::new(n).unwrap());
            assert_eq!(ours, jump_consistent_hash::hash(key, n as usize), "key {key}, {n} buckets");
            assert_eq!(ours, jumpch::hash(key, n), "key {key}, {n} buckets");
        }
    }
}

#[test]
fn smooth_weighted_sequences_match_weighted_rs() {
    let mut rng = Rng::with_seed(11);
    for _ in 0..50 {
        let count = 1 + rng.below(8);
        let weights: Vec<(NodeId, u32)> = nodes(count).into_iter().map(|n| (n, 1 + rng.below(20) as u32)).collect();
        let mut ours = SmoothWeighted::new(&weights).unwrap();
        let mut theirs = weighted_rs::SmoothWeight::new();
        for (n, w) in &weights {
            theirs.add(n.get(), *w as isize);
        }
        for _ in 0..200 {
            assert_eq!(ours.pick(Instant::ZERO, &mut rng).map(|n| n.get()), theirs.next(), "weights {weights:?}");
        }
    }
}

#[test]
fn the_report_measures_what_it_claims() {
    let ks = keys(100_000, 5);
    let ten = |k: u64| u64::from(jump_bucket(k, NonZeroU32::new(10).unwrap()));
    let eleven = |k: u64| u64::from(jump_bucket(k, NonZeroU32::new(11).unwrap()));
    let share = moved(&ks, &ten, &eleven);
    assert!((share - 1.0 / 11.0).abs() < 0.005, "{share}");
    assert_eq!(moved(&ks, &ten, &ten), 0.0);
    let balance = max_over_mean(ks.iter().map(|&k| ten(k)), 10);
    assert!((1.0..1.03).contains(&balance), "{balance}");
    assert_eq!(max_over_mean([1, 1, 2, 2].into_iter(), 2), 1.0);
    assert_eq!(max_over_mean([1, 1, 1, 2].into_iter(), 2), 1.5);
}
