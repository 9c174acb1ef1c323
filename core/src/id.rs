//! Identifier newtypes shared by every protocol.

use core::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub u64);

        impl $name {
            /// The raw value.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                $name(v)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}
pub(crate) use id_type;

id_type!(
    /// A member of a cluster. Zero is a valid id; uniqueness is the operator's job.
    NodeId,
    "n"
);
id_type!(
    /// A failure domain (a zone, a rack, a datacenter): replicas are spread
    /// across zones and balancers prefer the local one.
    ZoneId,
    "z"
);
id_type!(
    /// A Raft term (Raft §5.1): a logical clock that orders leaderships.
    Term,
    "t"
);
id_type!(
    /// A position in the replicated log, starting at 1; 0 means "before the log".
    LogIndex,
    "i"
);

impl Term {
    /// The term after this one.
    pub const fn next(self) -> Term {
        Term(self.0.saturating_add(1))
    }
}

impl LogIndex {
    /// The index after this one.
    pub const fn next(self) -> LogIndex {
        LogIndex(self.0.saturating_add(1))
    }

    /// The index before this one, or 0.
    pub const fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// `self + n`, saturating.
    pub const fn plus(self, n: u64) -> LogIndex {
        LogIndex(self.0.saturating_add(n))
    }
}

/// A Paxos ballot: totally ordered by `(round, node)`, so two proposers
/// never share one (Lamport, "Paxos Made Simple" §2.2).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ballot {
    /// The round; a proposer retries with a higher one.
    pub round: u64,
    /// The proposer that owns this ballot.
    pub node: NodeId,
}

impl Ballot {
    /// The ballot below every real ballot; nothing is promised or accepted.
    pub const ZERO: Ballot = Ballot { round: 0, node: NodeId(0) };

    /// A ballot of `node` at `round`.
    pub const fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }

    /// The smallest ballot of `node` above `other`.
    pub fn above(other: Ballot, node: NodeId) -> Ballot {
        if node > other.node {
            Ballot::new(other.round.max(1), node)
        } else {
            Ballot::new(other.round.saturating_add(1), node)
        }
    }
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.node.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        assert!(Ballot::new(2, NodeId(1)) > Ballot::new(1, NodeId(9)));
        assert!(Ballot::new(2, NodeId(3)) > Ballot::new(2, NodeId(1)));
        assert!(Ballot::ZERO < Ballot::new(1, NodeId(0)));
    }

    #[test]
    fn above_is_strictly_greater_and_owned_by_node() {
        for (r, n, me) in [(0, 0, 0), (0, 5, 3), (4, 2, 7), (4, 7, 2), (4, 2, 2)] {
            let other = Ballot::new(r, NodeId(n));
            let b = Ballot::above(other, NodeId(me));
            assert!(b > other, "{b:?} !> {other:?}");
            assert_eq!(b.node, NodeId(me));
            assert!(b.round >= 1);
        }
    }

    #[test]
    fn index_arithmetic_saturates() {
        assert_eq!(LogIndex(0).prev(), LogIndex(0));
        assert_eq!(LogIndex(u64::MAX).next(), LogIndex(u64::MAX));
        assert_eq!(LogIndex(3).plus(4), LogIndex(7));
        assert_eq!(Term(1).next(), Term(2));
    }
}
