//! One small error enum per operation.

use crate::id::{LogIndex, NodeId};

/// Why a proposal (or membership change) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// Only the leader takes proposals; try `leader_hint`.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader this replica knows of.
        leader_hint: Option<NodeId>,
    },
    /// The payload exceeds the configured limit.
    #[error("proposal of {size} bytes exceeds the limit of {max}")]
    ProposalTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Too much is proposed and not yet committed; retry later.
    #[error("too many uncommitted proposals")]
    Busy,
    /// A membership change is still in progress.
    #[error("a membership change is already in progress")]
    MembershipChangePending,
    /// Leadership is being handed over; retry at the new leader.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// The requested configuration is invalid.
    #[error("invalid configuration")]
    InvalidMembership,
    /// This protocol does not offer the operation.
    #[error("operation not supported by this protocol")]
    Unsupported,
}

/// Why a read cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Only the leader confirms reads; try `leader_hint`.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader this replica knows of.
        leader_hint: Option<NodeId>,
    },
    /// Too many reads are waiting; retry later.
    #[error("too many pending reads")]
    Busy,
    /// Leadership was lost before the read could be confirmed.
    #[error("leadership lost before the read was confirmed")]
    LeadershipLost,
}

/// Why an incoming message was rejected. The replica's state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message belongs to another protocol.
    #[error("message is for another protocol")]
    WrongProtocol,
    /// A message a node sent to itself.
    #[error("message from self")]
    FromSelf,
    /// The message contradicts itself (e.g. non-contiguous entries).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// The message's term (Multi-Paxos: ballot round) is further ahead of
    /// this replica's than a correct peer can be ([`MAX_TERM_JUMP`]).
    #[error("term {theirs} is too far ahead of ours ({ours}) for a correct peer")]
    TermJump {
        /// This replica's term (highest round seen).
        ours: u64,
        /// The message's.
        theirs: u64,
    },
}

/// How far ahead of a replica's term a message's may be. Terms grow one
/// election at a time, and pre-vote keeps a partitioned node from running
/// them up alone, so a correct peer is never billions of terms ahead; a
/// message that is was forged or corrupted. Believing it would move the
/// whole cluster toward the end of the term space, where no election can
/// be won: bounded jumps leave 2³² of them before that.
pub const MAX_TERM_JUMP: u64 = 1 << 32;

/// Refuses `theirs` if it is more than [`MAX_TERM_JUMP`] past `ours`.
pub fn check_term_jump(ours: u64, theirs: u64) -> Result<(), MessageError> {
    if theirs > ours.saturating_add(MAX_TERM_JUMP) {
        return Err(MessageError::TermJump { ours, theirs });
    }
    Ok(())
}

/// Why a snapshot could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The service has not been handed this index yet.
    #[error("index {index} not yet applied (applied: {applied})")]
    NotApplied {
        /// The requested index.
        index: LogIndex,
        /// The highest applied index.
        applied: LogIndex,
    },
    /// A snapshot at or past this index exists already.
    #[error("snapshot at {existing} already covers {index}")]
    AlreadyCompacted {
        /// The requested index.
        index: LogIndex,
        /// The existing snapshot's index.
        existing: LogIndex,
    },
}

/// Why leadership could not be handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// Only the leader can transfer leadership.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader this replica knows of.
        leader_hint: Option<NodeId>,
    },
    /// The target is not a voter of the current configuration.
    #[error("node {0} is not a voter")]
    NotVoter(NodeId),
    /// The target is this node, which already leads.
    #[error("already the leader")]
    AlreadyLeader,
    /// This protocol does not offer the operation.
    #[error("operation not supported by this protocol")]
    Unsupported,
}

/// Why a replica could not be rebuilt from storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// Stored entries skip an index.
    #[error("stored log has a gap: expected index {expected}, found {found}")]
    Gap {
        /// The index that should come next.
        expected: LogIndex,
        /// The index found.
        found: LogIndex,
    },
    /// Stored entries go back in term.
    #[error("stored log term decreases at index {0}")]
    TermRegression(LogIndex),
    /// A stored membership entry cannot be decoded.
    #[error("stored membership entry at index {0} is malformed")]
    BadMembership(LogIndex),
    /// No configuration: neither a snapshot, a membership entry, nor an
    /// initial membership was given.
    #[error("no membership: bootstrap with an initial configuration")]
    NoMembership,
}

/// Why a protocol configuration (`raft::Config`, `paxos::multi::Config`)
/// was refused. One type for both protocols: each returns the variants
/// that apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Multi-Paxos packs ballots into a `Term` as `round << 16 | node`, so
    /// node ids must be below 65,536.
    #[error("node id {0} does not fit a packed ballot (must be below 65536)")]
    NodeIdTooLarge(NodeId),
    /// Heartbeats must come more often than elections.
    #[error("heartbeat interval must be non-zero and below the election timeout")]
    HeartbeatNotBelowElectionTimeout,
    /// Raft's lease reads rely on followers refusing votes while a leader
    /// is live.
    #[error("lease reads need check_quorum")]
    LeaseNeedsCheckQuorum,
    /// The drift bound would leave no lease at all.
    #[error("max clock drift must be below the election timeout")]
    DriftExceedsLease,
    /// A count limit of zero would stall replication.
    #[error(
        "batch, inflight, read and snapshot limits must be non-zero (a zero snapshot limit refuses every snapshot)"
    )]
    ZeroLimit,
    /// Multi-Paxos runs a fixed configuration; a joint one cannot be used.
    #[error("joint configurations are not supported by Multi-Paxos")]
    JointMembership,
}

/// Why a replica could not be built: one type for both protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NewError {
    /// The configuration is inconsistent (or, on Multi-Paxos, a member id
    /// cannot be packed into a ballot).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage handed back something that is not a valid log.
    #[error(transparent)]
    Recover(#[from] RecoverError),
}

#[cfg(test)]
mod tests {
    use core::any::TypeId;

    #[test]
    fn both_protocols_share_one_config_and_one_construction_error() {
        use crate::paxos::multi;
        use crate::raft;
        assert_eq!(TypeId::of::<raft::ConfigError>(), TypeId::of::<multi::ConfigError>());
        assert_eq!(TypeId::of::<raft::NewError>(), TypeId::of::<multi::NewError>());
        assert_eq!(TypeId::of::<raft::ReadMode>(), TypeId::of::<multi::ReadMode>());
        // An embedder matches one error whichever protocol it built.
        let mut r = raft::Config::new(crate::id::NodeId(1), 0);
        r.max_pending_reads = 0;
        let mut p = multi::Config::new(crate::id::NodeId(1), 0);
        p.max_pending_reads = 0;
        assert_eq!(r.validate(), p.validate());
    }
}
