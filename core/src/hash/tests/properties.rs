//! Properties over random node sets: disruption on membership changes,
//! balance, the load bound and zone spreading.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{keys, nodes, unit_weights};
use crate::hash::*;
use crate::id::{NodeId, ZoneId};

const KEYS: usize = 4000;

/// Owners of the first `KEYS` keys.
fn owners(p: &impl Locate) -> Vec<NodeId> {
    keys(KEYS).iter().map(|k| p.locate(k)).collect()
}

/// The share of keys whose owner differs, and whether every moved key
/// left `from` or went to `to` (the minimal-disruption property).
fn moved(before: &[NodeId], after: &[NodeId], from: Option<NodeId>, to: Option<NodeId>) -> (f64, bool) {
    let mut count = 0;
    let mut minimal = true;
    for (b, a) in before.iter().zip(after) {
        if b != a {
            count += 1;
            minimal &= Some(*b) == from || Some(*a) == to;
        }
    }
    (count as f64 / before.len() as f64, minimal)
}

/// A node set of size 3..24 drawn from ids 0..1000.
fn node_set() -> impl Strategy<Value = Vec<NodeId>> {
    proptest::collection::btree_set(0u64..1000, 3..24).prop_map(|s| s.into_iter().map(NodeId).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn ring_moves_about_one_nth_and_only_to_or_from_the_changed_node(set in node_set(), pick in any::<prop::sample::Index>()) {
        let n = set.len();
        let gone = set[pick.index(n)];
        let full = Ring::new(&unit_weights(&set), 160).unwrap();
        let mut less = full.clone();
        less.remove(gone).unwrap();
        let (share, minimal) = moved(&owners(&full), &owners(&less), Some(gone), None);
        prop_assert!(minimal);
        // 160 points per node keep each share within ~±8% (1σ) of 1/n.
        prop_assert!(share > 0.5 / n as f64 && share < 1.6 / n as f64, "{share} of keys moved for n = {n}");
        let mut again = less.clone();
        again.insert(gone, 1).unwrap();
        prop_assert_eq!(owners(&again), owners(&full));
    }

    #[test]
    fn jump_moves_only_to_the_new_bucket(set in node_set()) {
        let n = set.len();
        let small = JumpHash::new(&set[..n - 1]).unwrap();
        let big = JumpHash::new(&set).unwrap();
        let (share, minimal) = moved(&owners(&small), &owners(&big), None, Some(set[n - 1]));
        prop_assert!(minimal);
        // Expected exactly 1/n; 4000 keys give a binomial spread of a few percent.
        let expected = 1.0 / n as f64;
        prop_assert!((share - expected).abs() < 4.0 * libm::sqrt(expected / KEYS as f64) + 0.002, "{share} vs {expected}");
    }

    #[test]
    fn rendezvous_moves_exactly_the_removed_nodes_keys(set in node_set(), pick in any::<prop::sample::Index>(), weights in proptest::collection::vec(1u32..5, 24)) {
        let n = set.len();
        let gone = pick.index(n);
        let all: Vec<(NodeId, u32)> = set.iter().zip(&weights).map(|(a, w)| (*a, *w)).collect();
        let mut rest = all.clone();
        rest.remove(gone);
        let full = Rendezvous::new(&all).unwrap();
        let less = Rendezvous::new(&rest).unwrap();
        let before = owners(&full);
        let (share, minimal) = moved(&before, &owners(&less), Some(set[gone]), None);
        prop_assert!(minimal);
        let owned = before.iter().filter(|o| **o == set[gone]).count() as f64 / KEYS as f64;
        prop_assert_eq!(share, owned);
    }

    #[test]
    fn maglev_slots_differ_by_at_most_one(count in 1u64..400) {
        let m = Maglev::new(&nodes(count), DEFAULT_TABLE_SIZE).unwrap();
        let slots = m.slot_counts();
        let ideal = DEFAULT_TABLE_SIZE as f64 / count as f64;
        for s in slots {
            prop_assert!((s as f64 - ideal).abs() <= 1.0, "{s} slots vs {ideal}");
            // Within 1% of the ideal load whenever M ≥ 100·n, as the paper sizes it.
            prop_assert!((s as f64 - ideal).abs() / ideal < 0.01 || count > 650);
        }
    }

    #[test]
    fn maglev_disruption_stays_near_one_nth(set in node_set(), pick in any::<prop::sample::Index>()) {
        let n = set.len();
        let gone = pick.index(n);
        let mut rest = set.clone();
        rest.remove(gone);
        let full = Maglev::new(&set, DEFAULT_TABLE_SIZE).unwrap();
        let less = Maglev::new(&rest, DEFAULT_TABLE_SIZE).unwrap();
        let (share, _) = moved(&owners(&full), &owners(&less), Some(set[gone]), None);
        // The removed node's 1/n must move; Maglev adds a little churn (§3.4).
        prop_assert!(share > 0.7 / n as f64 && share < 2.0 / n as f64, "{share} moved for n = {n}");
    }

    #[test]
    fn bounded_load_never_exceeds_its_bound(
        weights in proptest::collection::vec(1u32..4, 2..12),
        factor in 100u32..200,
        ops in proptest::collection::vec((any::<u64>(), any::<bool>()), 1..600),
    ) {
        let ring_nodes: Vec<(NodeId, u32)> = weights.iter().enumerate().map(|(i, w)| (NodeId(i as u64), *w)).collect();
        let total_weight: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut b = BoundedLoad::new(Ring::new(&ring_nodes, 40).unwrap(), factor).unwrap();
        let mut held: Vec<NodeId> = Vec::new();
        for (key, release) in ops {
            if release && !held.is_empty() {
                let node = held.swap_remove((key % held.len() as u64) as usize);
                b.release(node).unwrap();
                continue;
            }
            let node = b.assign(&key.to_le_bytes());
            held.push(node);
            let m = b.total();
            let w = u64::from(ring_nodes.iter().find(|(n, _)| *n == node).unwrap().1);
            // ⌈c·m·w/Σw⌉ with m counting the key just placed.
            let bound = (u64::from(factor) * m * w).div_ceil(100 * total_weight);
            prop_assert!(b.load(node).unwrap() <= bound, "{:?} holds {:?} > {bound}", node, b.load(node));
        }
        prop_assert_eq!(b.total(), held.len() as u64);
    }

    #[test]
    fn preference_lists_are_distinct_and_use_every_zone_before_repeating(
        zones in proptest::collection::vec(0u64..5, 1..20),
        key in any::<u64>(),
        want in 1usize..20,
    ) {
        let members: Vec<ZonedNode> =
            zones.iter().enumerate().map(|(i, z)| ZonedNode { node: NodeId(i as u64), zone: ZoneId(*z), weight: 1 + (i % 3) as u32 }).collect();
        let t = Topology::new(&members).unwrap();
        let want = want.min(members.len());
        let list = t.preference_list(&key.to_le_bytes(), want).unwrap();
        prop_assert_eq!(list.len(), want);
        let zone_of = |n: NodeId| members[n.get() as usize].zone;
        let mut seen = Vec::new();
        let mut per_zone: BTreeMap<ZoneId, usize> = BTreeMap::new();
        for node in list.nodes() {
            prop_assert!(!seen.contains(node), "{:?} repeated", node);
            seen.push(*node);
            *per_zone.entry(zone_of(*node)).or_default() += 1;
            // After every pick: a zone is ahead of another by at most one
            // while the other still has unpicked nodes.
            for (za, ca) in &per_zone {
                for zb in zones.iter().map(|z| ZoneId(*z)) {
                    let cb = per_zone.get(&zb).copied().unwrap_or(0);
                    let zb_left = members.iter().any(|m| m.zone == zb && !seen.contains(&m.node));
                    prop_assert!(!(zb_left && *ca > cb + 1), "{:?} has {} while {:?} has {}", za, ca, zb, cb);
                }
            }
        }
        // Removing a node outside the list leaves the list as it was.
        if let Some(outside) = members.iter().find(|m| !seen.contains(&m.node)) {
            let rest: Vec<ZonedNode> = members.iter().filter(|m| m.node != outside.node).copied().collect();
            let again = Topology::new(&rest).unwrap().preference_list(&key.to_le_bytes(), want).unwrap();
            prop_assert_eq!(again, list);
        }
    }
}

#[test]
fn weighted_shares_follow_the_weights() {
    let weighted: Vec<(NodeId, u32)> = nodes(4).into_iter().zip([1, 2, 3, 4]).collect();
    let ring = Ring::new(&weighted, 160).unwrap();
    let hrw = Rendezvous::new(&weighted).unwrap();
    for (name, owners) in [("ring", owners(&ring)), ("rendezvous", owners(&hrw))] {
        for (node, w) in &weighted {
            let share = owners.iter().filter(|o| *o == node).count() as f64 / KEYS as f64;
            let expected = f64::from(*w) / 10.0;
            assert!((share - expected).abs() < 0.03, "{name}: {node:?} has {share}, expected {expected}");
        }
    }
}

#[test]
fn maglev_key_load_is_within_one_percent_of_ideal_over_a_million_keys() {
    let count = 10u64;
    let m = Maglev::new(&nodes(count), DEFAULT_TABLE_SIZE).unwrap();
    let mut load = alloc::vec![0u64; count as usize];
    // Sequential integers through the key hash: deterministic, so this
    // either always passes or always fails.
    for k in 0..1_000_000u64 {
        load[(m.locate(&k.to_le_bytes()).get() - 1) as usize] += 1;
    }
    let ideal = 1_000_000.0 / count as f64;
    for l in load {
        assert!((l as f64 - ideal).abs() / ideal < 0.01, "{l} keys vs {ideal}");
    }
}

/// The canary: naive `hash mod n` placement, which a membership change
/// reshuffles almost entirely. The disruption measure must catch it, or the
/// properties above prove nothing.
#[test]
fn the_disruption_check_catches_modulo_hashing() {
    struct Modulo(Vec<NodeId>);
    impl Locate for Modulo {
        fn locate_hash(&self, hash: u64) -> NodeId {
            self.0[(hash % self.0.len() as u64) as usize]
        }
        fn key_hash(&self, key: &[u8]) -> u64 {
            Xxh3.hash(0, key)
        }
    }
    let ten = nodes(10);
    let (share, minimal) =
        moved(&owners(&Modulo(ten.clone())), &owners(&Modulo(ten[..9].to_vec())), Some(ten[9]), None);
    assert!(!minimal);
    assert!(share > 0.8, "{share}");
}
