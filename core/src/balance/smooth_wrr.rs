//! Smooth weighted round robin, as in nginx (`ngx_http_upstream_round_robin.c`,
//! Maxim Dounin, 2012).
//!
//! Each pick adds every node's weight to its current score, takes the node
//! with the highest score and subtracts the total weight from it. Over any
//! W = Σw consecutive picks node i is chosen exactly wᵢ times, and the picks
//! are interleaved (weights {5, 1, 1} give a a b a c a a, not a a a a a b c).

use alloc::vec::Vec;

use super::members::Members;
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::Instant;

/// nginx's smooth weighted round robin over the available nodes.
#[derive(Clone, Debug)]
pub struct SmoothWeighted {
    members: Members,
    weights: Vec<i64>,
    current: Vec<i64>,
}

impl SmoothWeighted {
    /// Smooth weighted round robin over `(node, weight)`; ties go to the
    /// earlier node.
    pub fn new(nodes: &[(NodeId, u32)]) -> Result<Self, BuildError> {
        let ids: Vec<NodeId> = nodes.iter().map(|n| n.0).collect();
        let members = Members::new(&ids)?;
        if let Some((n, _)) = nodes.iter().find(|n| n.1 == 0) {
            return Err(BuildError::ZeroWeight(*n));
        }
        Ok(SmoothWeighted {
            members,
            weights: nodes.iter().map(|n| i64::from(n.1)).collect(),
            current: alloc::vec![0; nodes.len()],
        })
    }
}

impl Balancer for SmoothWeighted {
    fn pick(&mut self, _now: Instant, _rng: &mut Rng) -> Option<NodeId> {
        let up = self.members.up();
        let mut best: Option<usize> = None;
        let mut total = 0i64;
        for &i in up {
            let i = i as usize;
            self.current[i] += self.weights[i];
            total += self.weights[i];
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        self.current[best] -= total;
        Some(self.members.id(best))
    }

    fn report(&mut self, _node: NodeId, _now: Instant, _outcome: Outcome) {}

    fn set_available(&mut self, node: NodeId, available: bool) {
        let before = self.members.up().len();
        self.members.set_available(node, available);
        if self.members.up().len() != before {
            // A new set of nodes starts a new cycle, so the "every W picks"
            // guarantee holds again from here.
            self.current.iter_mut().for_each(|c| *c = 0);
        }
    }
}
