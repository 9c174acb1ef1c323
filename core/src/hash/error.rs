//! Why a placement could not be built or changed.

use crate::id::NodeId;

/// Why a placement could not be built (or a node added or removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No nodes: every key needs an owner.
    #[error("the node set is empty")]
    Empty,
    /// A node appears twice.
    #[error("node {0} appears more than once")]
    DuplicateNode(NodeId),
    /// A node was given weight zero; remove it instead.
    #[error("node {0} has weight zero")]
    ZeroWeight(NodeId),
    /// The node to remove is not a member.
    #[error("node {0} is not a member")]
    UnknownNode(NodeId),
    /// Maglev's permutations only cover the table when its size is prime.
    #[error("table size {0} is not prime")]
    NotPrime(u64),
    /// A Maglev table needs at least one slot per node.
    #[error("table size {size} is smaller than the {nodes} nodes")]
    TableTooSmall {
        /// The requested table size.
        size: u64,
        /// The number of nodes.
        nodes: usize,
    },
    /// More points, slots or nodes than this structure indexes.
    #[error("{0} entries exceed the supported maximum")]
    TooLarge(u64),
    /// A bounded-load factor below 100% cannot place every key.
    #[error("load factor {0}% is below 100%")]
    LoadFactorTooLow(u32),
    /// A preference list names at least one node.
    #[error("a preference list needs at least one replica")]
    ZeroReplicas,
    /// A preference list cannot name more distinct nodes than exist.
    #[error("{wanted} replicas requested but only {nodes} nodes exist")]
    NotEnoughNodes {
        /// The replicas requested.
        wanted: usize,
        /// The nodes available.
        nodes: usize,
    },
}

/// Why a bounded-load release was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The node is not a member.
    #[error("node {0} is not a member")]
    UnknownNode(NodeId),
    /// The node holds no keys: releases outnumber assignments.
    #[error("node {0} holds no keys")]
    NotAssigned(NodeId),
}
