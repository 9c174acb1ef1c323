//! Maglev hashing.
//!
//! Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
//! Balancer" (NSDI 2016, §3.4): each node walks its own permutation of a
//! table of prime size M (offset + j·skip mod M) and the nodes take turns
//! claiming their next free slot. Loads differ by at most one slot, lookups
//! are one table read, and a membership change moves slightly more than the
//! ideal 1/n of keys.

use alloc::vec;
use alloc::vec::Vec;

use super::hasher::{KeyHasher, Xxh3, fast_range, hash_node, seed};
use super::{BuildError, Locate, check_distinct};
use crate::id::NodeId;

/// The paper's small table size (§5.3): prime, and well above 100 slots per
/// node for up to ~650 nodes.
pub const DEFAULT_TABLE_SIZE: u64 = 65_537;

/// The largest table this builds (≈ 16 GiB of u32 slots past this).
const MAX_TABLE_SIZE: u64 = u32::MAX as u64;

/// A Maglev lookup table.
#[derive(Clone, Debug)]
pub struct Maglev<H = Xxh3> {
    hasher: H,
    nodes: Vec<NodeId>,
    /// Slot → index in `nodes`.
    table: Vec<u32>,
}

impl Maglev<Xxh3> {
    /// A table of prime `table_size` (e.g. [`DEFAULT_TABLE_SIZE`]) over
    /// `nodes`, hashing with [`Xxh3`]. The paper advises M > 100·n.
    pub fn new(nodes: &[NodeId], table_size: u64) -> Result<Self, BuildError> {
        Maglev::with_hasher(nodes, table_size, Xxh3)
    }
}

impl<H: KeyHasher> Maglev<H> {
    /// [`Maglev::new`] with another key hasher.
    pub fn with_hasher(nodes: &[NodeId], table_size: u64, hasher: H) -> Result<Self, BuildError> {
        check_distinct(nodes.iter().copied())?;
        if table_size > MAX_TABLE_SIZE {
            return Err(BuildError::TooLarge(table_size));
        }
        if !is_prime(table_size) {
            return Err(BuildError::NotPrime(table_size));
        }
        if (table_size as usize) < nodes.len() {
            return Err(BuildError::TableTooSmall { size: table_size, nodes: nodes.len() });
        }
        let table = populate(&hasher, nodes, table_size);
        Ok(Maglev { hasher, nodes: nodes.to_vec(), table })
    }

    /// The nodes, in the order given.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The table size M.
    pub fn table_size(&self) -> u64 {
        self.table.len() as u64
    }

    /// Slots owned by each node, in node order.
    pub fn slot_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.nodes.len()];
        for &s in &self.table {
            counts[s as usize] += 1;
        }
        counts
    }
}

/// The paper's Pseudocode 1, with each permutation walked incrementally
/// (`pos += skip mod M`) instead of materialised: O(M log M) time expected,
/// O(n) memory besides the table.
fn populate<H: KeyHasher>(hasher: &H, nodes: &[NodeId], m: u64) -> Vec<u32> {
    const EMPTY: u32 = u32::MAX;
    let mut table = vec![EMPTY; m as usize];
    // (next slot to try, skip) per node.
    let mut walk: Vec<(u64, u64)> = nodes
        .iter()
        .map(|&n| {
            let offset = hash_node(hasher, seed::MAGLEV_OFFSET, n) % m;
            // M = 2 has M - 1 = 1: every skip is 1, still a permutation.
            let skip = hash_node(hasher, seed::MAGLEV_SKIP, n) % (m - 1).max(1) + 1;
            (offset, skip)
        })
        .collect();
    let mut filled = 0u64;
    'fill: loop {
        for (i, (pos, skip)) in walk.iter_mut().enumerate() {
            // M prime and 0 < skip < M: the walk visits every slot, so a free
            // one is found while any remains.
            while table[*pos as usize] != EMPTY {
                *pos += *skip;
                if *pos >= m {
                    *pos -= m;
                }
            }
            table[*pos as usize] = i as u32;
            filled += 1;
            if filled == m {
                break 'fill;
            }
        }
    }
    table
}

/// Whether `n` is prime (deterministic trial division by 6k±1; table sizes
/// are at most 2^32, so this is at most ~22k divisions).
pub fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let mut d = 5u64;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

impl<H: KeyHasher> Locate for Maglev<H> {
    #[inline]
    fn locate_hash(&self, hash: u64) -> NodeId {
        // The paper takes hash % M; multiply-shift spreads as evenly without a division.
        self.nodes[self.table[fast_range(hash, self.table.len() as u64) as usize] as usize]
    }

    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(seed::KEY, key)
    }
}
