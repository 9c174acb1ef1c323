//! Balancer behaviour: fixed sequences from fixed seeds, properties, and
//! the decorators' rules.

mod decorators;
mod policies;

use alloc::vec::Vec;

use super::{Balancer, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

fn nodes(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

/// `count` picks, each reported at once with `latency(node)`; the node ids.
fn run(b: &mut dyn Balancer, count: usize, seed: u64, latency: impl Fn(NodeId) -> Duration) -> Vec<u64> {
    let mut rng = Rng::with_seed(seed);
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    for _ in 0..count {
        now += Duration::from_millis(1);
        let Some(n) = b.pick(now, &mut rng) else { break };
        out.push(n.get());
        b.report(n, now, Outcome::success(latency(n)));
    }
    out
}

/// `count` picks never reported: requests pile up in flight.
fn open(b: &mut dyn Balancer, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::with_seed(seed);
    (0..count).filter_map(|_| b.pick(Instant::ZERO, &mut rng)).map(|n| n.get()).collect()
}
