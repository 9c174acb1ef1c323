//! Jump consistent hash.
//!
//! Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm"
//! (2014): a key jumps forward through bucket numbers with a pseudo-random
//! walk seeded by itself; growing from n to n+1 buckets moves exactly the
//! expected 1/(n+1) of keys, all to the new bucket. No memory, O(ln n) time,
//! but buckets are numbered: only the last one can be removed.

use alloc::vec::Vec;
use core::num::NonZeroU32;

use super::hasher::{KeyHasher, Xxh3, seed};
use super::{BuildError, Locate, check_distinct};
use crate::id::NodeId;

/// The bucket in `0..buckets` of `key`, exactly as in the paper's Figure 1
/// (the same 64-bit LCG and the same double-precision step), so results
/// match every faithful implementation.
#[inline]
pub fn jump_bucket(mut key: u64, buckets: NonZeroU32) -> u32 {
    let n = i64::from(buckets.get());
    let (mut b, mut j) = (-1i64, 0i64);
    while j < n {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Jump consistent hash over an ordered list of nodes: bucket `i` is
/// `nodes[i]`. Grow with [`JumpHash::push`], shrink with [`JumpHash::pop`];
/// removing a node from the middle would renumber buckets and move most
/// keys, so it is not offered.
#[derive(Clone, Debug)]
pub struct JumpHash<H = Xxh3> {
    hasher: H,
    nodes: Vec<NodeId>,
}

impl JumpHash<Xxh3> {
    /// Jump hashing over `nodes` in this order, hashing keys with [`Xxh3`].
    pub fn new(nodes: &[NodeId]) -> Result<Self, BuildError> {
        JumpHash::with_hasher(nodes, Xxh3)
    }
}

impl<H: KeyHasher> JumpHash<H> {
    /// [`JumpHash::new`] with another key hasher.
    pub fn with_hasher(nodes: &[NodeId], hasher: H) -> Result<Self, BuildError> {
        check_distinct(nodes.iter().copied())?;
        if u32::try_from(nodes.len()).is_err() {
            return Err(BuildError::TooLarge(nodes.len() as u64));
        }
        Ok(JumpHash { hasher, nodes: nodes.to_vec() })
    }

    /// Appends `node` as the new last bucket; 1/(n+1) of keys move to it.
    pub fn push(&mut self, node: NodeId) -> Result<(), BuildError> {
        if self.nodes.contains(&node) {
            return Err(BuildError::DuplicateNode(node));
        }
        if self.nodes.len() >= u32::MAX as usize {
            return Err(BuildError::TooLarge(self.nodes.len() as u64 + 1));
        }
        self.nodes.push(node);
        Ok(())
    }

    /// Removes the last bucket; only its keys move. The last node cannot go.
    pub fn pop(&mut self) -> Result<NodeId, BuildError> {
        if self.nodes.len() == 1 {
            return Err(BuildError::Empty);
        }
        self.nodes.pop().ok_or(BuildError::Empty)
    }

    /// The nodes, in bucket order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }
}

impl<H: KeyHasher> Locate for JumpHash<H> {
    #[inline]
    fn locate_hash(&self, hash: u64) -> NodeId {
        // The node count fits in u32 (checked on every change) and is never 0.
        let n = NonZeroU32::new(self.nodes.len() as u32).unwrap_or(NonZeroU32::MIN);
        self.nodes[jump_bucket(hash, n) as usize]
    }

    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(seed::KEY, key)
    }
}
