//! Round robin: each available node in turn.

use super::members::Members;
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::Instant;

/// Picks the available nodes in order, one after another. Ignores load and
/// latency: right when nodes and requests are alike.
#[derive(Clone, Debug)]
pub struct RoundRobin {
    members: Members,
    cursor: usize,
}

impl RoundRobin {
    /// Round robin over `nodes`, in this order.
    pub fn new(nodes: &[NodeId]) -> Result<Self, BuildError> {
        Ok(RoundRobin { members: Members::new(nodes)?, cursor: 0 })
    }
}

impl Balancer for RoundRobin {
    fn pick(&mut self, _now: Instant, _rng: &mut Rng) -> Option<NodeId> {
        let up = self.members.up();
        if up.is_empty() {
            return None;
        }
        if self.cursor >= up.len() {
            self.cursor = 0;
        }
        let node = self.members.id(up[self.cursor] as usize);
        self.cursor += 1;
        Some(node)
    }

    fn report(&mut self, _node: NodeId, _now: Instant, _outcome: Outcome) {}

    fn set_available(&mut self, node: NodeId, available: bool) {
        self.members.set_available(node, available);
    }
}
