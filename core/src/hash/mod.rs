//! Consistent hashing: which node owns a key, and which nodes hold its replicas.
//!
//! Every algorithm here is a plain value built from a node set; lookups take
//! `&self` and never allocate, except [`Topology`] preference lists, which return an
//! owned list. Results depend only on the node set, the key and the
//! [`KeyHasher`]: the default [`Xxh3`] with fixed seeds never changes between
//! runs, machines or versions, and golden tables in the tests pin that down.
//!
//! | type | algorithm | lookup | on a membership change |
//! |---|---|---|---|
//! | [`Ring`] | ring with virtual nodes and weights (Karger et al. 1997) | O(log points) | ~1/n of keys move |
//! | [`JumpHash`] | jump consistent hash (Lamping & Veach 2014) | O(ln n), no memory | exactly 1/n move; append/pop only |
//! | [`Rendezvous`] | weighted highest random weight (Thaler & Ravishankar 1998) | O(n) | exactly the lost node's keys move |
//! | [`Maglev`] | Maglev lookup table (Eisenbud et al., NSDI 2016) | O(1) | ~1/n move, plus a little churn |
//! | [`BoundedLoad`] | bounded loads on a ring (Mirrokni, Thorup, Zadimoghaddam 2018) | stateful assign/release | no node above ⌈c·m/n⌉ |
//! | [`Topology`] | replica preference lists spread over zones | O(n log n) | lists change only where the node was |

mod bounded;
mod error;
mod hasher;
mod jump;
mod maglev;
mod preference;
mod rendezvous;
mod ring;

#[cfg(test)]
mod tests;

pub use bounded::BoundedLoad;
pub use error::{BuildError, ReleaseError};
pub use hasher::{KeyHasher, Xxh3, mix64};
pub use jump::{JumpHash, jump_bucket};
pub use maglev::{DEFAULT_TABLE_SIZE, Maglev, is_prime};
pub use preference::{PreferenceList, Topology, ZonedNode};
pub use rendezvous::Rendezvous;
pub use ring::Ring;

use crate::id::NodeId;

/// A stateless placement: a key (or its hash) to the node that owns it.
///
/// Every node set that builds is non-empty, so a lookup always has an answer.
pub trait Locate {
    /// The owner of a key whose hash is `hash` (from this placement's hasher).
    fn locate_hash(&self, hash: u64) -> NodeId;

    /// The hash of `key` that [`Locate::locate_hash`] expects.
    fn key_hash(&self, key: &[u8]) -> u64;

    /// The owner of `key`.
    fn locate(&self, key: &[u8]) -> NodeId {
        self.locate_hash(self.key_hash(key))
    }
}

/// Rejects an empty set and duplicate nodes; shared by every builder.
fn check_distinct(nodes: impl IntoIterator<Item = NodeId>) -> Result<(), BuildError> {
    let mut ids: alloc::vec::Vec<NodeId> = nodes.into_iter().collect();
    if ids.is_empty() {
        return Err(BuildError::Empty);
    }
    ids.sort_unstable();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(BuildError::DuplicateNode(w[0])),
        None => Ok(()),
    }
}
