//! Rendezvous (highest random weight) hashing, weighted.
//!
//! Thaler & Ravishankar, "Using Name-Based Mappings to Increase Hit Rates"
//! (IEEE/ACM ToN 1998): every node scores every key and the highest score
//! wins, so removing a node moves exactly its own keys and nothing else.
//! Weights follow Schindelhauer & Schomaker, "Weighted Distributed Hash
//! Tables" (SPAA 2005): score = -w / ln(u) with u uniform in (0, 1) gives
//! each node a share of exactly w / Σw.

use alloc::vec::Vec;

use super::hasher::{KeyHasher, Xxh3, hash_node, mix64, seed};
use super::{BuildError, Locate, check_distinct};
use crate::id::NodeId;

/// Weighted rendezvous hashing over a set of nodes. O(n) per lookup: the
/// right choice for tens of nodes, or when minimal disruption matters most.
#[derive(Clone, Debug)]
pub struct Rendezvous<H = Xxh3> {
    hasher: H,
    nodes: Vec<NodeId>,
    salts: Vec<u64>,
    weights: Vec<f64>,
    /// All weights equal: the highest raw score wins, no logarithm needed.
    uniform: bool,
}

impl Rendezvous<Xxh3> {
    /// Rendezvous hashing over `(node, weight)` with [`Xxh3`].
    pub fn new(nodes: &[(NodeId, u32)]) -> Result<Self, BuildError> {
        Rendezvous::with_hasher(nodes, Xxh3)
    }
}

impl<H: KeyHasher> Rendezvous<H> {
    /// [`Rendezvous::new`] with another key hasher.
    pub fn with_hasher(nodes: &[(NodeId, u32)], hasher: H) -> Result<Self, BuildError> {
        check_distinct(nodes.iter().map(|(n, _)| *n))?;
        if let Some((n, _)) = nodes.iter().find(|(_, w)| *w == 0) {
            return Err(BuildError::ZeroWeight(*n));
        }
        let salts = nodes.iter().map(|(n, _)| hash_node(&hasher, seed::RENDEZVOUS, *n)).collect();
        let uniform = nodes.windows(2).all(|w| w[0].1 == w[1].1);
        Ok(Rendezvous {
            salts,
            nodes: nodes.iter().map(|(n, _)| *n).collect(),
            weights: nodes.iter().map(|(_, w)| f64::from(*w)).collect(),
            uniform,
            hasher,
        })
    }

    /// The nodes, in the order given.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Node `i`'s score for a key hash; higher wins.
    #[inline]
    fn score(&self, hash: u64, i: usize) -> f64 {
        weighted_score(mix64(hash ^ self.salts[i]), self.weights[i])
    }

    /// The index of the winning node for `hash`.
    #[inline]
    fn winner(&self, hash: u64) -> usize {
        let mut best = 0;
        if self.uniform {
            // -w/ln(u) is increasing in u for a fixed w: compare raw draws.
            let mut top = 0;
            for (i, salt) in self.salts.iter().enumerate() {
                let draw = mix64(hash ^ salt);
                if draw > top {
                    (top, best) = (draw, i);
                }
            }
        } else {
            let mut top = f64::NEG_INFINITY;
            for i in 0..self.nodes.len() {
                let s = self.score(hash, i);
                if s > top {
                    (top, best) = (s, i);
                }
            }
        }
        best
    }

    /// Node indices ordered from highest to lowest score for `hash` (ties
    /// by position), written into `out` as `(order key, index)`.
    pub(crate) fn rank(&self, hash: u64, out: &mut Vec<(u64, usize)>) {
        out.clear();
        if self.uniform {
            out.extend(self.salts.iter().enumerate().map(|(i, salt)| (mix64(hash ^ salt), i)));
        } else {
            // Scores are positive, and positive floats order like their bits.
            out.extend((0..self.nodes.len()).map(|i| (self.score(hash, i).to_bits(), i)));
        }
        out.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    }
}

/// -w / ln(u) for u taken from the top 53 bits of `draw`, kept inside (0, 1)
/// so the logarithm is finite and negative.
#[inline]
pub(crate) fn weighted_score(draw: u64, weight: f64) -> f64 {
    let u = ((draw >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    -weight / libm::log(u)
}

impl<H: KeyHasher> Locate for Rendezvous<H> {
    #[inline]
    fn locate_hash(&self, hash: u64) -> NodeId {
        self.nodes[self.winner(hash)]
    }

    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(seed::KEY, key)
    }
}
