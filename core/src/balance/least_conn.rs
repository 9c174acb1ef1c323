//! Least connections: the node with the fewest requests in flight.

use alloc::vec::Vec;

use super::members::Members;
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::Instant;

/// Picks the available node with the fewest open requests, breaking ties
/// uniformly at random (so idle clients do not all pile onto the first
/// node). O(n) per pick.
#[derive(Clone, Debug)]
pub struct LeastConnections {
    members: Members,
    in_flight: Vec<u64>,
}

impl LeastConnections {
    /// Least connections over `nodes`.
    pub fn new(nodes: &[NodeId]) -> Result<Self, BuildError> {
        Ok(LeastConnections { members: Members::new(nodes)?, in_flight: alloc::vec![0; nodes.len()] })
    }

    /// Requests open on `node`.
    pub fn in_flight(&self, node: NodeId) -> Option<u64> {
        self.members.index(node).map(|i| self.in_flight[i])
    }
}

impl Balancer for LeastConnections {
    fn pick(&mut self, _now: Instant, rng: &mut Rng) -> Option<NodeId> {
        let mut best: Option<usize> = None;
        let mut ties = 0u64;
        for &i in self.members.up() {
            let i = i as usize;
            match best {
                Some(b) if self.in_flight[i] > self.in_flight[b] => {}
                Some(b) if self.in_flight[i] == self.in_flight[b] => {
                    // Reservoir sampling: each of k tied nodes wins with 1/k.
                    ties += 1;
                    if rng.below(ties) == 0 {
                        best = Some(i);
                    }
                }
                _ => {
                    best = Some(i);
                    ties = 1;
                }
            }
        }
        let best = best?;
        self.in_flight[best] += 1;
        Some(self.members.id(best))
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
