//! Placement benchmarks and quality measurements: synod-core's hashing,
//! balancing and failure detection next to the peer crates, measured in
//! the same run.
//!
//! - `cargo bench -p synod-bench --bench placement`: lookup and build times;
//! - `cargo run --release -p synod-bench --bin placement-report`: how many
//!   keys move on a membership change, and max/mean load over 1M keys;
//! - `cargo run --release -p synod-bench --bin core-throughput` and
//!   `--bin core-memory`: replication throughput and heap per log entry of
//!   synod's Raft next to raft-rs and OmniPaxos ([`throughput`]).

pub mod throughput;

use core::hash::Hash;
use std::collections::HashMap;

use synod_core::hash::{BoundedLoad, JumpHash, Locate, Maglev, Rendezvous, Ring, Topology, ZonedNode};
use synod_core::id::{NodeId, ZoneId};
use synod_core::rand::Rng;

/// Virtual nodes per node for every ring here: `consistent_hash_ring`'s
/// figure in the tools README was measured at 160.
pub const VNODES: u32 = 160;

/// `count` keys drawn from a fixed seed.
pub fn keys(count: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::with_seed(seed);
    (0..count).map(|_| rng.next_u64()).collect()
}

/// Node ids `1..=n`.
pub fn nodes(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

/// `(node, 1)` for each of `1..=n`.
pub fn unit(n: u64) -> Vec<(NodeId, u32)> {
    nodes(n).into_iter().map(|id| (id, 1)).collect()
}

/// One placement under test: a name and the owner of a u64 key.
pub type Owner<'a> = Box<dyn Fn(u64) -> u64 + 'a>;

/// Max/mean load: 1.0 is perfect balance.
pub fn max_over_mean<T: Hash + Eq>(owners: impl Iterator<Item = T>, nodes: usize) -> f64 {
    let mut load: HashMap<T, u64> = HashMap::new();
    let mut total = 0u64;
    for o in owners {
        *load.entry(o).or_default() += 1;
        total += 1;
    }
    let max = load.values().copied().max().unwrap_or(0);
    max as f64 / (total as f64 / nodes as f64)
}

/// The share of `keys` whose owner differs between `before` and `after`.
pub fn moved(keys: &[u64], before: &dyn Fn(u64) -> u64, after: &dyn Fn(u64) -> u64) -> f64 {
    keys.iter().filter(|&&k| before(k) != after(k)).count() as f64 / keys.len() as f64
}

/// synod's stateless placements over nodes `1..=n`, by name.
pub fn synod_placements(n: u64) -> Vec<(&'static str, Box<dyn Locate>)> {
    vec![
        ("synod Ring (160 vnodes)", Box::new(Ring::new(&unit(n), VNODES).expect("valid")) as Box<dyn Locate>),
        ("synod JumpHash", Box::new(JumpHash::new(&nodes(n)).expect("valid"))),
        ("synod Rendezvous", Box::new(Rendezvous::new(&unit(n)).expect("valid"))),
        ("synod Maglev (M = 65537)", Box::new(Maglev::new(&nodes(n), 65_537).expect("valid"))),
    ]
}

/// Owners of `keys` under bounded loads (c = `percent`/100), placed in order.
pub fn bounded_owners(n: u64, percent: u32, keys: &[u64]) -> Vec<u64> {
    let mut b = BoundedLoad::new(Ring::new(&unit(n), VNODES).expect("valid"), percent).expect("valid");
    keys.iter().map(|k| b.assign(&k.to_le_bytes()).get()).collect()
}

/// Three-replica preference lists over `n` nodes in three zones.
pub fn topology(n: u64) -> Topology {
    let zoned: Vec<ZonedNode> =
        (1..=n).map(|i| ZonedNode { node: NodeId(i), zone: ZoneId(i % 3), weight: 1 }).collect();
    Topology::new(&zoned).expect("valid")
}

/// Peer placements over nodes `1..=n`, each with its default key hash.
pub mod peers {
    use super::VNODES;

    /// `consistent_hash_ring` 0.8 with `VNODES` vnodes per node (FNV).
    pub fn ring(n: u64) -> consistent_hash_ring::Ring<u64> {
        consistent_hash_ring::RingBuilder::default().vnodes(VNODES as usize).nodes_iter(1..=n).build()
    }

    /// `maglev` 0.2 with its table size for `n` nodes set to 65537 (SipHash).
    pub fn maglev(n: u64) -> maglev::Maglev<u64> {
        maglev::Maglev::with_capacity(1..=n, 65_537)
    }
}
