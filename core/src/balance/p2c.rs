//! The power of two choices.
//!
//! Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"
//! (IEEE TPDS 2001): sending each request to the less loaded of two nodes
//! drawn at random brings the maximum load from Θ(log n / log log n) down
//! to Θ(log log n), in O(1) per pick and without herding on a stale minimum.

use alloc::vec::Vec;

use super::members::{Members, two_distinct};
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::Instant;

/// Power-of-two-choices over requests in flight.
#[derive(Clone, Debug)]
pub struct PowerOfTwo {
    members: Members,
    in_flight: Vec<u64>,
}

impl PowerOfTwo {
    /// Two random choices over `nodes`.
    pub fn new(nodes: &[NodeId]) -> Result<Self, BuildError> {
        Ok(PowerOfTwo { members: Members::new(nodes)?, in_flight: alloc::vec![0; nodes.len()] })
    }

    /// Requests open on `node`.
    pub fn in_flight(&self, node: NodeId) -> Option<u64> {
        self.members.index(node).map(|i| self.in_flight[i])
    }
}

impl Balancer for PowerOfTwo {
    fn pick(&mut self, _now: Instant, rng: &mut Rng) -> Option<NodeId> {
        let up = self.members.up();
        let chosen = match up.len() {
            0 => return None,
            1 => up[0] as usize,
            n => {
                let (a, b) = two_distinct(rng, n);
                let (a, b) = (up[a] as usize, up[b] as usize);
                if self.in_flight[b] < self.in_flight[a] { b } else { a }
            }
        };
        self.in_flight[chosen] += 1;
        Some(self.members.id(chosen))
    }

    fn report(&mut self, node: NodeId, _now: Instant, _outcome: Outcome) {
        if let Some(i) = self.members.index(node) {
            self.in_flight[i] = self.in_flight[i].saturating_sub(1);
        }
    }

    fn set_available(&mut self, node: NodeId, available: bool) {
        self.members.set_available(node, available);
    }
}
