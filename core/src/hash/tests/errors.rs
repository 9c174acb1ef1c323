//! Bad input is a typed error, never a panic.

use super::{nodes, unit_weights};
use crate::hash::*;
use crate::id::{NodeId, ZoneId};

#[test]
fn empty_sets_are_refused_everywhere() {
    assert_eq!(Ring::new(&[], 10).unwrap_err(), BuildError::Empty);
    assert_eq!(JumpHash::new(&[]).unwrap_err(), BuildError::Empty);
    assert_eq!(Rendezvous::new(&[]).unwrap_err(), BuildError::Empty);
    assert_eq!(Maglev::new(&[], 13).unwrap_err(), BuildError::Empty);
    assert_eq!(Topology::new(&[]).unwrap_err(), BuildError::Empty);
}

#[test]
fn duplicates_and_zero_weights_are_refused() {
    let dup = [(NodeId(1), 1), (NodeId(2), 1), (NodeId(1), 3)];
    assert_eq!(Ring::new(&dup, 10).unwrap_err(), BuildError::DuplicateNode(NodeId(1)));
    assert_eq!(Rendezvous::new(&dup).unwrap_err(), BuildError::DuplicateNode(NodeId(1)));
    assert_eq!(JumpHash::new(&[NodeId(4), NodeId(4)]).unwrap_err(), BuildError::DuplicateNode(NodeId(4)));
    assert_eq!(Maglev::new(&[NodeId(4), NodeId(4)], 13).unwrap_err(), BuildError::DuplicateNode(NodeId(4)));
    let zero = [(NodeId(1), 1), (NodeId(2), 0)];
    assert_eq!(Ring::new(&zero, 10).unwrap_err(), BuildError::ZeroWeight(NodeId(2)));
    assert_eq!(Rendezvous::new(&zero).unwrap_err(), BuildError::ZeroWeight(NodeId(2)));
}

#[test]
fn maglev_needs_a_prime_table_with_room_for_every_node() {
    assert_eq!(Maglev::new(&nodes(3), 65536).unwrap_err(), BuildError::NotPrime(65536));
    assert_eq!(Maglev::new(&nodes(3), 1).unwrap_err(), BuildError::NotPrime(1));
    assert_eq!(Maglev::new(&nodes(5), 3).unwrap_err(), BuildError::TableTooSmall { size: 3, nodes: 5 });
    assert_eq!(Maglev::new(&nodes(3), 1 << 40).unwrap_err(), BuildError::TooLarge(1 << 40));
    assert!(Maglev::new(&nodes(2), 2).is_ok());
    let primes: alloc::vec::Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
    assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    assert!(is_prime(65537) && is_prime(4_294_967_291) && !is_prime(4_294_967_297));
}

#[test]
fn ring_changes_are_checked_and_leave_the_ring_intact_on_error() {
    let mut ring = Ring::new(&unit_weights(&nodes(2)), 10).unwrap();
    assert_eq!(ring.insert(NodeId(2), 1).unwrap_err(), BuildError::DuplicateNode(NodeId(2)));
    assert_eq!(ring.insert(NodeId(3), 0).unwrap_err(), BuildError::ZeroWeight(NodeId(3)));
    assert_eq!(ring.insert(NodeId(3), u32::MAX).unwrap_err(), BuildError::TooLarge(u64::from(u32::MAX) * 10 + 20));
    assert_eq!(ring.members().len(), 2);
    assert_eq!(ring.point_count(), 20);
    assert_eq!(ring.remove(NodeId(9)).unwrap_err(), BuildError::UnknownNode(NodeId(9)));
    ring.remove(NodeId(1)).unwrap();
    assert_eq!(ring.remove(NodeId(2)).unwrap_err(), BuildError::Empty);
    assert_eq!(ring.locate(b"any"), NodeId(2));
}

#[test]
fn jump_grows_and_shrinks_only_at_the_end() {
    let mut jump = JumpHash::new(&nodes(1)).unwrap();
    assert_eq!(jump.pop().unwrap_err(), BuildError::Empty);
    assert_eq!(jump.push(NodeId(1)).unwrap_err(), BuildError::DuplicateNode(NodeId(1)));
    jump.push(NodeId(2)).unwrap();
    assert_eq!(jump.pop().unwrap(), NodeId(2));
}

#[test]
fn bounded_load_rejects_low_factors_and_extra_releases() {
    let ring = || Ring::new(&unit_weights(&nodes(2)), 10).unwrap();
    assert_eq!(BoundedLoad::new(ring(), 99).unwrap_err(), BuildError::LoadFactorTooLow(99));
    let mut b = BoundedLoad::new(ring(), 100).unwrap();
    assert_eq!(b.release(NodeId(1)).unwrap_err(), ReleaseError::NotAssigned(NodeId(1)));
    assert_eq!(b.release(NodeId(7)).unwrap_err(), ReleaseError::UnknownNode(NodeId(7)));
    let n = b.assign(b"k");
    assert_eq!(b.load(n), Some(1));
    b.release(n).unwrap();
    assert_eq!(b.total(), 0);
}

#[test]
fn preference_lists_need_one_to_n_replicas() {
    let zoned = [ZonedNode { node: NodeId(1), zone: ZoneId(0), weight: 1 }];
    let t = Topology::new(&zoned).unwrap();
    assert_eq!(t.preference_list(b"k", 0).unwrap_err(), BuildError::ZeroReplicas);
    assert_eq!(t.preference_list(b"k", 2).unwrap_err(), BuildError::NotEnoughNodes { wanted: 2, nodes: 1 });
    assert_eq!(t.preference_list(b"k", 1).unwrap().primary(), NodeId(1));
}
