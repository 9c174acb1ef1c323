//! Paxos: the single-decree synod protocol ([`single`]) and Multi-Paxos
//! ([`multi`]), as sans-IO state machines.
//!
//! Sources, cited on the rules they justify: Lamport, "The Part-Time
//! Parliament" (PTP) and "Paxos Made Simple" (PMS); van Renesse &
//! Altinbuken, "Paxos Made Moderately Complex" (PMMC); Chandra, Griesemer
//! & Redstone, "Paxos Made Live" (PML).
//!
//! Both machines order proposals by [`Ballot`] — `(round, node)`, so two
//! proposers never share one. Multi-Paxos stores ballots in the shared
//! [`Term`]-typed fields of [`crate::replica`] ([`HardState::term`] for the
//! promised ballot, [`Entry::term`] for a slot's accepted ballot) packed as
//! `round << 16 | node`: see [`ballot_term`]. Packing preserves the order,
//! so comparing packed terms compares ballots; it needs node ids below
//! 65,536 and rounds below 2^48, which [`multi`] checks.
//!
//! [`HardState::term`]: crate::replica::HardState::term
//! [`Entry::term`]: crate::replica::Entry::term

pub mod multi;
pub mod single;

use crate::id::{Ballot, NodeId, Term};

/// Bits of a packed ballot that hold the node id.
pub const NODE_BITS: u32 = 16;
/// The first node id that cannot be packed into a [`Term`].
pub const MAX_NODES: u64 = 1 << NODE_BITS;
/// The first round that cannot be packed into a [`Term`].
pub const MAX_ROUND: u64 = 1 << (64 - NODE_BITS);

/// True if `b` can be packed into a [`Term`] without loss.
pub const fn packable(b: Ballot) -> bool {
    b.round < MAX_ROUND && b.node.0 < MAX_NODES
}

/// Packs a ballot as `round << 16 | node`. Order-preserving for packable
/// ballots; callers check [`packable`] first (a non-packable ballot is
/// clamped, never wrapped).
pub const fn ballot_term(b: Ballot) -> Term {
    let round = if b.round < MAX_ROUND { b.round } else { MAX_ROUND - 1 };
    let node = if b.node.0 < MAX_NODES { b.node.0 } else { MAX_NODES - 1 };
    Term(round << NODE_BITS | node)
}

/// Unpacks a [`ballot_term`].
pub const fn term_ballot(t: Term) -> Ballot {
    Ballot { round: t.0 >> NODE_BITS, node: NodeId(t.0 & (MAX_NODES - 1)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_preserves_order() {
        let ballots = [
            Ballot::ZERO,
            Ballot::new(1, NodeId(0)),
            Ballot::new(1, NodeId(65_535)),
            Ballot::new(2, NodeId(3)),
            Ballot::new(MAX_ROUND - 1, NodeId(7)),
        ];
        for w in ballots.windows(2) {
            assert!(ballot_term(w[0]) < ballot_term(w[1]), "{:?} < {:?}", w[0], w[1]);
        }
        for b in ballots {
            assert!(packable(b));
            assert_eq!(term_ballot(ballot_term(b)), b);
        }
        assert_eq!(ballot_term(Ballot::new(3, NodeId(5))), Term(3 << 16 | 5));
        assert_eq!(ballot_term(Ballot::ZERO), Term(0));
        let big = Ballot::new((1 << 47) + 3, NodeId(65_535));
        assert!(packable(big));
        assert_eq!(term_ballot(ballot_term(big)), big);
    }

    #[test]
    fn the_limits_are_sixteen_bits_of_node_and_forty_eight_of_round() {
        assert_eq!((MAX_NODES, MAX_ROUND), (65_536, 1 << 48));
        assert_eq!(ballot_term(Ballot::new(MAX_ROUND - 1, NodeId(MAX_NODES - 1))), Term(u64::MAX));
    }

    #[test]
    fn unpackable_ballots_are_detected_and_clamped() {
        assert!(!packable(Ballot::new(1, NodeId(MAX_NODES))));
        assert!(!packable(Ballot::new(MAX_ROUND, NodeId(1))));
        assert_eq!(ballot_term(Ballot::new(1, NodeId(MAX_NODES))), ballot_term(Ballot::new(1, NodeId(MAX_NODES - 1))));
        assert_eq!(term_ballot(ballot_term(Ballot::new(u64::MAX, NodeId(2)))).round, MAX_ROUND - 1);
        let edge = term_ballot(ballot_term(Ballot::new(MAX_ROUND, NodeId(MAX_NODES))));
        assert_eq!(edge, Ballot::new(MAX_ROUND - 1, NodeId(MAX_NODES - 1)), "clamped at the first unpackable value");
    }
}
