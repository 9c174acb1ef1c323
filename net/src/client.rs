//! What clients ask of a node and what they are told.

use bytes::Bytes;
use synod_core::id::NodeId;
use synod_core::replica::{MemberStep, StepError};

/// A request, identified by the sender so the reply can find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// Chosen by the sender; echoed in the reply.
    pub id: u64,
    /// What to do.
    pub op: RequestOp,
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOp {
    /// A service command, applied through the log.
    Propose(Bytes),
    /// A read-only query, answered linearizably.
    Query(Bytes),
    /// A membership step, planned by the leader against the configuration
    /// it has in force and answered once the change is in force (its joint
    /// phase left).
    Member(MemberStep),
    /// Hand leadership to this node; answered once the leader has started
    /// the transfer.
    TransferLeader(NodeId),
    /// Confirm leadership and answer with the index a linearizable read
    /// must wait for (8 bytes, little-endian): a follower serves the read
    /// from its own state once it has applied that far (Raft thesis
    /// §6.4, "reads from followers").
    ReadIndex,
    /// The configuration in force at the node asked, addresses included
    /// (`Membership::encode`), answered by any node from its own state. A
    /// joining node asks the members it was told of, so that it can reach
    /// (and admit) every member — the leader included — before its own
    /// configuration arrives.
    Configuration,
}

impl ClientRequest {
    /// Bytes of payload.
    pub fn payload_len(&self) -> usize {
        match &self.op {
            RequestOp::Propose(b) | RequestOp::Query(b) => b.len(),
            RequestOp::Member(MemberStep::AddLearner { address, .. }) => address.len(),
            RequestOp::Member(_) | RequestOp::TransferLeader(_) | RequestOp::ReadIndex | RequestOp::Configuration => 0,
        }
    }
}

/// The answer to a [`ClientRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReply {
    /// The request's id.
    pub id: u64,
    /// The service's reply, or why there is none.
    pub result: Result<Bytes, ClientError>,
}

/// Why a request got no service reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node could not reach a leader; try `leader_hint`.
    #[error("not the leader (leader: {leader_hint:?})")]
    NotLeader {
        /// The leader the node knows of.
        leader_hint: Option<NodeId>,
    },
    /// No answer in time: the command may or may not have been applied.
    #[error("timed out; the command may or may not have been applied")]
    Timeout,
    /// The leader the request was forwarded to lost its leadership (or
    /// its connection) before answering. A write may or may not have been
    /// applied; retry, at `leader_hint` if known (exactly once only with a
    /// session). Reads are never answered so: they are sent again.
    #[error("the leader changed; the command may or may not have been applied (leader: {leader_hint:?})")]
    LeaderChanged {
        /// The new leader, if known.
        leader_hint: Option<NodeId>,
    },
    /// Too much is in flight; retry later. Nothing was applied.
    #[error("node busy; retry later")]
    Busy,
    /// The node is shutting down.
    #[error("node shutting down")]
    ShuttingDown,
    /// The leader changed before the command committed; it was not applied.
    #[error("leadership changed; the command was not applied")]
    Lost,
    /// The request exceeds the size limit.
    #[error("request too large")]
    TooLarge,
    /// No leader is known and none could be reached.
    #[error("no leader available")]
    Unavailable,
    /// The node is out of disk (its quota passed, or the file system
    /// full): only commands that cannot grow the state are taken. Nothing
    /// was applied.
    #[error("out of disk space; only reads and deletes are served")]
    NoSpace,
    /// The leader refused a membership step or a leadership transfer;
    /// nothing changed.
    #[error("refused: {0}")]
    Refused(Refusal),
}

/// Why a leader refused a membership step or a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Another change is still in progress; retry once it is in force.
    #[error("a membership change is in progress; retry")]
    ChangePending,
    /// The node is already a member, at another address.
    #[error("node {0} is already a member at another address")]
    AlreadyMember(NodeId),
    /// The node is not a member.
    #[error("node {0} is not a member")]
    NotMember(NodeId),
    /// The node is not a voter (a transfer target must be one).
    #[error("node {0} is not a voter")]
    NotVoter(NodeId),
    /// The last voter cannot be removed.
    #[error("node {0} is the last voter")]
    LastVoter(NodeId),
    /// A learner is promoted only once it holds the log nearly up to the
    /// commit index; retry.
    #[error("node {0} has not caught up with the log yet; retry")]
    NotCaughtUp(NodeId),
    /// The resulting configuration would be invalid (an address too long,
    /// say).
    #[error("the resulting configuration is invalid")]
    Invalid,
    /// The protocol cannot do this.
    #[error("the protocol does not support this")]
    Unsupported,
    /// A replacement must name a voter to remove and a learner to promote.
    #[error("replace takes a voter ({old}) to remove and a learner ({new}) to promote")]
    NotReplaceable {
        /// The voter asked to leave.
        old: NodeId,
        /// The learner asked to take its place.
        new: NodeId,
    },
}

impl From<StepError> for Refusal {
    fn from(e: StepError) -> Self {
        match e {
            StepError::ChangePending => Refusal::ChangePending,
            StepError::AlreadyMember(id) => Refusal::AlreadyMember(id),
            StepError::NotMember(id) => Refusal::NotMember(id),
            StepError::LastVoter(id) => Refusal::LastVoter(id),
            StepError::NotReplaceable { old, new } => Refusal::NotReplaceable { old, new },
            _ => Refusal::Invalid,
        }
    }
}
