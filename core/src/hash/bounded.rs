//! Consistent hashing with bounded loads.
//!
//! Mirrokni, Thorup & Zadimoghaddam, "Consistent Hashing with Bounded Loads"
//! (SODA 2018): with m keys placed and load factor c ≥ 1, no node may hold
//! more than ⌈c·m/n⌉. A key walks the ring clockwise from its hash and goes
//! to the first node still below that capacity, so keys stay near their
//! ring owner (a membership change still moves O(1/n) of them, scaled by
//! 1/ε²) while no node is overloaded. Weighted nodes get capacity in
//! proportion to their weight: ⌈c·m·w/Σw⌉.

use alloc::vec;
use alloc::vec::Vec;

use super::hasher::{KeyHasher, Xxh3, seed};
use super::{BuildError, ReleaseError, Ring};
use crate::id::NodeId;

/// Load-bounded placement of keys (connections, sessions, cache entries)
/// over a [`Ring`]. Stateful: [`BoundedLoad::assign`] places a key and
/// counts it, [`BoundedLoad::release`] uncounts it when it leaves.
#[derive(Clone, Debug)]
pub struct BoundedLoad<H = Xxh3> {
    ring: Ring<H>,
    /// c as a percentage: 125 means c = 1.25.
    factor_percent: u32,
    /// Keys held, indexed like `ring.members()`.
    loads: Vec<u64>,
    total: u64,
    total_weight: u64,
}

impl<H: KeyHasher> BoundedLoad<H> {
    /// Bounded loads over `ring` with load factor `factor_percent`/100
    /// (at least 100; the paper's experiments favour 125).
    pub fn new(ring: Ring<H>, factor_percent: u32) -> Result<Self, BuildError> {
        if factor_percent < 100 {
            return Err(BuildError::LoadFactorTooLow(factor_percent));
        }
        let total_weight = ring.members().iter().map(|m| u64::from(m.1)).sum();
        Ok(BoundedLoad { loads: vec![0; ring.members().len()], ring, factor_percent, total: 0, total_weight })
    }

    /// Places `key` and counts it against its node.
    pub fn assign(&mut self, key: &[u8]) -> NodeId {
        let hash = self.ring.hasher().hash(seed::KEY, key);
        self.assign_hash(hash)
    }

    /// [`BoundedLoad::assign`] for a key already hashed with the ring's hasher.
    pub fn assign_hash(&mut self, hash: u64) -> NodeId {
        let m = self.peek_index(hash);
        self.loads[m] += 1;
        self.total += 1;
        self.ring.members()[m].0
    }

    /// Where `key` would go now, without placing it.
    pub fn peek(&self, key: &[u8]) -> NodeId {
        self.ring.members()[self.peek_index(self.ring.hasher().hash(seed::KEY, key))].0
    }

    /// Uncounts one key held by `node`.
    pub fn release(&mut self, node: NodeId) -> Result<(), ReleaseError> {
        let m = self.index_of(node).ok_or(ReleaseError::UnknownNode(node))?;
        if self.loads[m] == 0 {
            return Err(ReleaseError::NotAssigned(node));
        }
        self.loads[m] -= 1;
        self.total -= 1;
        Ok(())
    }

    /// Keys `node` holds, or `None` for a stranger.
    pub fn load(&self, node: NodeId) -> Option<u64> {
        self.index_of(node).map(|m| self.loads[m])
    }

    /// Keys placed and not released.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The most keys `node` may hold once one more key is placed:
    /// ⌈c·(m+1)·w/Σw⌉.
    pub fn capacity(&self, node: NodeId) -> Option<u64> {
        self.index_of(node).map(|m| self.capacity_of(m, self.total + 1))
    }

    /// The ring underneath.
    pub fn ring(&self) -> &Ring<H> {
        &self.ring
    }

    fn capacity_of(&self, m: usize, keys: u64) -> u64 {
        let w = u128::from(self.ring.members()[m].1);
        let num = u128::from(self.factor_percent) * u128::from(keys) * w;
        let den = 100 * u128::from(self.total_weight);
        num.div_ceil(den) as u64
    }

    fn peek_index(&self, hash: u64) -> usize {
        let start = self.ring.point_at(hash);
        let points = self.ring.point_count();
        for step in 0..points {
            let m = self.ring.owner_of_point(start + step);
            if self.loads[m] < self.capacity_of(m, self.total + 1) {
                return m;
            }
        }
        // Unreachable: Σ capacity ≥ c·(m+1) > m = Σ load, so some node has
        // room and every node has a point. Fall back to the ring owner.
        self.ring.owner_of_point(start)
    }

    fn index_of(&self, node: NodeId) -> Option<usize> {
        self.ring.members().binary_search_by_key(&node, |m| m.0).ok()
    }
}
