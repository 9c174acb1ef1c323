//! Replica preference lists spread across zones.
//!
//! A key's preference list names the N distinct nodes that hold its replicas,
//! in order (DeCandia et al., "Dynamo", SOSP 2007, §4.3). Nodes are ranked
//! by weighted rendezvous score for the key (so removing a node only changes
//! the lists it was in), then taken in rounds: each round takes the
//! best-ranked unused node of every zone that still has one, so all zones
//! are used before any repeats, and a zone's outage costs at most
//! ⌈N/zones⌉ replicas (the rack- and datacenter-aware placement of
//! Cassandra's NetworkTopologyStrategy and Ceph's CRUSH rules).

use alloc::vec::Vec;

use super::hasher::{KeyHasher, Xxh3};
use super::{BuildError, Locate, Rendezvous};
use crate::id::{NodeId, ZoneId};

/// A node with its failure domain and weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZonedNode {
    /// The node.
    pub node: NodeId,
    /// Its zone (rack, availability zone, datacenter).
    pub zone: ZoneId,
    /// Its relative capacity; a node with twice the weight leads twice as
    /// many lists.
    pub weight: u32,
}

/// The nodes of a cluster with their zones: hands out preference lists.
#[derive(Clone, Debug)]
pub struct Topology<H = Xxh3> {
    ranking: Rendezvous<H>,
    /// Zones indexed like the nodes of `ranking`.
    zones: Vec<ZoneId>,
}

/// The N nodes that hold a key's replicas, best first: the first is the
/// coordinator, the rest its fallbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferenceList(Vec<NodeId>);

impl PreferenceList {
    /// The nodes in order of preference.
    pub fn nodes(&self) -> &[NodeId] {
        &self.0
    }

    /// The first choice (the coordinator).
    pub fn primary(&self) -> NodeId {
        self.0[0]
    }

    /// The number of nodes in the list.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a list names at least one node.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for PreferenceList {
    type Item = NodeId;
    type IntoIter = alloc::vec::IntoIter<NodeId>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Topology<Xxh3> {
    /// A topology of `nodes`, hashing with [`Xxh3`].
    pub fn new(nodes: &[ZonedNode]) -> Result<Self, BuildError> {
        Topology::with_hasher(nodes, Xxh3)
    }
}

impl<H: KeyHasher> Topology<H> {
    /// [`Topology::new`] with another key hasher.
    pub fn with_hasher(nodes: &[ZonedNode], hasher: H) -> Result<Self, BuildError> {
        let weighted: Vec<(NodeId, u32)> = nodes.iter().map(|n| (n.node, n.weight)).collect();
        Ok(Topology {
            ranking: Rendezvous::with_hasher(&weighted, hasher)?,
            zones: nodes.iter().map(|n| n.zone).collect(),
        })
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.zones.len()
    }

    /// The `n` distinct nodes that should hold `key`, spread across zones.
    pub fn preference_list(&self, key: &[u8], n: usize) -> Result<PreferenceList, BuildError> {
        self.preference_list_hash(self.ranking.key_hash(key), n)
    }

    /// [`Topology::preference_list`] for a key already hashed.
    pub fn preference_list_hash(&self, hash: u64, n: usize) -> Result<PreferenceList, BuildError> {
        let nodes = self.zones.len();
        if n == 0 {
            return Err(BuildError::ZeroReplicas);
        }
        if n > nodes {
            return Err(BuildError::NotEnoughNodes { wanted: n, nodes });
        }
        let mut ranked = Vec::with_capacity(nodes);
        self.ranking.rank(hash, &mut ranked);
        let mut taken = alloc::vec![false; nodes];
        let mut out = Vec::with_capacity(n);
        let mut round_zones: Vec<ZoneId> = Vec::new();
        while out.len() < n {
            // One round: the best free node of each zone not yet used in it.
            round_zones.clear();
            for &(_, i) in &ranked {
                if out.len() == n {
                    break;
                }
                if !taken[i] && !round_zones.contains(&self.zones[i]) {
                    taken[i] = true;
                    round_zones.push(self.zones[i]);
                    out.push(self.ranking.nodes()[i]);
                }
            }
        }
        Ok(PreferenceList(out))
    }
}
