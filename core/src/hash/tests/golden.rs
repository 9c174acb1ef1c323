//! Fixed keys to fixed nodes. A failure here means stored data would be
//! looked for on the wrong node after an upgrade: never update these
//! numbers to make a test pass without a migration plan.

use alloc::vec::Vec;

use super::{keys, nodes, unit_weights};
use crate::hash::*;
use crate::id::{NodeId, ZoneId};

fn weighted() -> Vec<(NodeId, u32)> {
    nodes(5).into_iter().zip([1, 2, 1, 3, 1]).collect()
}

fn owners(locate: impl Fn(&[u8]) -> NodeId) -> Vec<u64> {
    keys(16).iter().map(|k| locate(k).get()).collect()
}

#[test]
fn xxh3_matches_the_reference_vectors() {
    // XXH3_64bits("") with seed 0, from the xxHash reference test suite.
    assert_eq!(Xxh3.hash(0, b""), 0x2d06_8005_38d3_94c2);
    assert_eq!(Xxh3.hash(0, b"key-0"), 0x819f_6b51_706f_0178);
    assert_eq!(Xxh3.hash(7, b"synod"), 0x5fcb_39aa_b5bd_c486);
    assert_eq!(mix64(0), 0);
    assert_eq!(mix64(1), 0xb456_bcfc_34c2_cb2c);
}

#[test]
fn jump_matches_the_paper_implementation() {
    // Lamping & Veach's C++ gives these (also the jump-consistent-hash crate's doc test).
    let sixty = core::num::NonZeroU32::new(60).unwrap();
    assert_eq!([0, 1, 2].map(|k| jump_bucket(k, sixty)), [0, 55, 46]);
    assert_eq!(jump_bucket(u64::MAX, core::num::NonZeroU32::MIN), 0);
}

#[test]
fn golden_ring() {
    let ring = Ring::new(&weighted(), 100).unwrap();
    assert_eq!(owners(|k| ring.locate(k)), [5, 2, 5, 4, 2, 4, 2, 4, 5, 4, 3, 4, 5, 4, 2, 2]);
}

#[test]
fn golden_jump() {
    let jump = JumpHash::new(&nodes(5)).unwrap();
    assert_eq!(owners(|k| jump.locate(k)), [2, 2, 5, 1, 4, 5, 1, 3, 3, 3, 3, 3, 5, 4, 1, 3]);
}

#[test]
fn golden_rendezvous() {
    let hrw = Rendezvous::new(&unit_weights(&nodes(5))).unwrap();
    assert_eq!(owners(|k| hrw.locate(k)), [1, 2, 1, 5, 2, 5, 3, 1, 2, 3, 3, 4, 4, 2, 1, 5]);
    let weighted = Rendezvous::new(&weighted()).unwrap();
    assert_eq!(owners(|k| weighted.locate(k)), [1, 4, 1, 4, 2, 2, 4, 1, 2, 4, 3, 4, 4, 2, 4, 5]);
}

#[test]
fn golden_maglev() {
    let big = Maglev::new(&nodes(5), DEFAULT_TABLE_SIZE).unwrap();
    assert_eq!(owners(|k| big.locate(k)), [1, 3, 5, 5, 4, 3, 5, 1, 2, 2, 5, 3, 1, 5, 2, 1]);
    assert_eq!(big.slot_counts(), [13108, 13108, 13107, 13107, 13107]);
    let small = Maglev::new(&nodes(5), 13).unwrap();
    assert_eq!(owners(|k| small.locate(k)), [2, 2, 5, 1, 1, 3, 3, 3, 2, 5, 3, 4, 5, 2, 1, 1]);
}

#[test]
fn golden_bounded_load() {
    let mut bounded = BoundedLoad::new(Ring::new(&weighted(), 100).unwrap(), 125).unwrap();
    let placed: Vec<u64> = keys(16).iter().map(|k| bounded.assign(k).get()).collect();
    // The ring's choices, except where an owner was full (key-2: node 5
    // may hold only ⌈1.25·3·1/8⌉ = 1 key of the first three).
    assert_eq!(placed, [5, 2, 3, 4, 2, 4, 2, 4, 5, 4, 3, 4, 5, 4, 2, 2]);
}

#[test]
fn golden_preference_lists() {
    let zoned: Vec<ZonedNode> =
        (1..=6).map(|i| ZonedNode { node: NodeId(i), zone: ZoneId(i % 3), weight: 1 }).collect();
    let topology = Topology::new(&zoned).unwrap();
    let lists: Vec<Vec<u64>> = keys(6)
        .iter()
        .map(|k| topology.preference_list(k, 4).unwrap().nodes().iter().map(|n| n.get()).collect())
        .collect();
    assert_eq!(
        lists,
        [[1, 2, 6, 4], [2, 6, 4, 3], [1, 5, 3, 2], [6, 5, 4, 2], [2, 6, 4, 5], [5, 6, 4, 2]].map(|l| l.to_vec())
    );
}
