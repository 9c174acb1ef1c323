//! Golden tables (placements must never change) and properties (how much
//! moves when membership changes, balance, bounds).

mod errors;
mod golden;
mod properties;

use alloc::format;
use alloc::vec::Vec;

use crate::id::NodeId;

fn nodes(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

fn unit_weights(nodes: &[NodeId]) -> Vec<(NodeId, u32)> {
    nodes.iter().map(|n| (*n, 1)).collect()
}

fn keys(count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| format!("key-{i}").into_bytes()).collect()
}
