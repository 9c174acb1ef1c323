//! Smooth weighted round robin, as in nginx (`ngx_http_upstream_round_robin.c`,
//! Maxim Dounin, 2012).
//!
//! Each pick adds every node's weight to its current score, takes the node
//! with the highest score and subtracts the total weight from it. Over any
//! W = Σw consecutive picks node i is chosen exactly wᵢ times, and the picks
//! are interleaved (weights {5, 1, 1} give a a b a c a a, not a a a a a b c).
//!
//! After W picks every score is back to zero (each node gained wᵢ·W and
//! lost W per pick of it, wᵢ times), so the sequence repeats with period W:
//! for W up to [`MAX_SCHEDULE`] one period is computed when the set of
//! available nodes changes and a pick is one array read.

use alloc::vec::Vec;

use super::members::Members;
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::Instant;

/// The longest period precomputed (16 KiB of schedule).
pub const MAX_SCHEDULE: i64 = 4096;

/// nginx's smooth weighted round robin over the available nodes.
#[derive(Clone, Debug)]
pub struct SmoothWeighted {
    members: Members,
    /// `(current, weight)` per node, side by side for one pass per pick.
    scores: Vec<(i64, i64)>,
    /// Σ weight of the available nodes.
    total_up: i64,
    /// One period of picks (node indices) when Σw ≤ [`MAX_SCHEDULE`].
    schedule: Vec<u32>,
    cursor: usize,
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
        let scores: Vec<(i64, i64)> = nodes.iter().map(|n| (0, i64::from(n.1))).collect();
        let total_up = scores.iter().map(|s| s.1).sum();
        let mut swrr = SmoothWeighted { members, scores, total_up, schedule: Vec::new(), cursor: 0 };
        swrr.restart();
        Ok(swrr)
    }

    /// The live algorithm: one pass over the available nodes.
    fn step(&mut self) -> Option<usize> {
        let (mut best, mut top) = (usize::MAX, i64::MIN);
        if self.members.up().len() == self.scores.len() {
            // Everyone up, the usual case: one pass over a dense array.
            for (i, (current, weight)) in self.scores.iter_mut().enumerate() {
                *current += *weight;
                if *current > top {
                    (best, top) = (i, *current);
                }
            }
        } else {
            for &i in self.members.up() {
                let (current, weight) = &mut self.scores[i as usize];
                *current += *weight;
                if *current > top {
                    (best, top) = (i as usize, *current);
                }
            }
        }
        let (current, _) = self.scores.get_mut(best)?;
        *current -= self.total_up;
        Some(best)
    }

    /// Starts a new cycle from zero scores, precomputing it if short enough.
    fn restart(&mut self) {
        self.total_up = self.members.up().iter().map(|&i| self.scores[i as usize].1).sum();
        self.scores.iter_mut().for_each(|s| s.0 = 0);
        self.schedule.clear();
        self.cursor = 0;
        if self.total_up <= MAX_SCHEDULE {
            // Σw picks bring every score back to zero: the state is fresh again.
            self.schedule = (0..self.total_up).filter_map(|_| self.step()).map(|i| i as u32).collect();
        }
    }
}

impl Balancer for SmoothWeighted {
    fn pick(&mut self, _now: Instant, _rng: &mut Rng) -> Option<NodeId> {
        let i = match self.schedule.get(self.cursor) {
            Some(&i) => {
                self.cursor = if self.cursor + 1 == self.schedule.len() { 0 } else { self.cursor + 1 };
                i as usize
            }
            None => self.step()?,
        };
        Some(self.members.id(i))
    }

    fn report(&mut self, _node: NodeId, _now: Instant, _outcome: Outcome) {}

    fn set_available(&mut self, node: NodeId, available: bool) {
        let before = self.members.up().len();
        self.members.set_available(node, available);
        if self.members.up().len() != before {
            // A new set of nodes starts a new cycle, so the "every W picks"
            // guarantee holds again from here.
            self.restart();
        }
    }
}
