//! The node set every balancer shares: order, lookup by id, availability.

use alloc::vec::Vec;

use super::BuildError;
use crate::id::NodeId;

/// Nodes in the caller's order, with an index by id and the list of
/// available ones (rebuilt only when availability changes, so picks stay
/// O(1) or a scan of the up nodes).
#[derive(Clone, Debug)]
pub(crate) struct Members {
    ids: Vec<NodeId>,
    /// `(id, index)` sorted by id.
    by_id: Vec<(NodeId, u32)>,
    available: Vec<bool>,
    /// Indices of available nodes, ascending.
    up: Vec<u32>,
}

impl Members {
    pub(crate) fn new(ids: &[NodeId]) -> Result<Self, BuildError> {
        if ids.is_empty() {
            return Err(BuildError::Empty);
        }
        if u32::try_from(ids.len()).is_err() {
            return Err(BuildError::InvalidConfig("more than 2^32 nodes"));
        }
        let mut by_id: Vec<(NodeId, u32)> = ids.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
        by_id.sort_unstable();
        if let Some(w) = by_id.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(BuildError::DuplicateNode(w[0].0));
        }
        Ok(Members {
            ids: ids.to_vec(),
            by_id,
            available: alloc::vec![true; ids.len()],
            up: (0..ids.len() as u32).collect(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn id(&self, i: usize) -> NodeId {
        self.ids[i]
    }

    pub(crate) fn index(&self, node: NodeId) -> Option<usize> {
        self.by_id.binary_search_by_key(&node, |e| e.0).ok().map(|k| self.by_id[k].1 as usize)
    }

    /// Indices of available nodes, ascending.
    pub(crate) fn up(&self) -> &[u32] {
        &self.up
    }

    /// Marks `node` up or down; false if it is not a member.
    pub(crate) fn set_available(&mut self, node: NodeId, available: bool) -> bool {
        let Some(i) = self.index(node) else { return false };
        if self.available[i] != available {
            self.available[i] = available;
            self.up = (0..self.ids.len() as u32).filter(|&k| self.available[k as usize]).collect();
        }
        true
    }
}

/// Two distinct indices into `0..n` (n ≥ 2), uniformly.
pub(crate) fn two_distinct(rng: &mut crate::rand::Rng, n: usize) -> (usize, usize) {
    let a = rng.below(n as u64) as usize;
    let mut b = rng.below(n as u64 - 1) as usize;
    if b >= a {
        b += 1;
    }
    (a, b)
}
