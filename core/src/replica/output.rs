//! What a replica hands back to its caller.

use super::entry::{Entry, Persist, Snapshot};
use super::error::ReadError;
use super::membership::Membership;
use super::message::Message;
use super::read_back::LogRead;
use crate::id::{LogIndex, NodeId, Term};
use crate::time::Instant;
use alloc::vec::Vec;

/// A message for one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The peer.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

/// A caller-chosen name for a read, echoed back when it is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReadId(pub u64);

/// The outcome of a [`Replica::read`](super::Replica::read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The read's name.
    pub id: ReadId,
    /// `Ok(index)`: the read is linearizable once the service has applied
    /// everything up to `index`. `Err`: it will never be safe here.
    pub result: Result<LogIndex, ReadError>,
}

/// Where a proposal will sit. It succeeded if the entry later committed at
/// `index` has this `term`. With Raft, any other entry there means the
/// proposal was lost with its leader. With Multi-Paxos a new leader
/// re-proposes the values it recovers under its own ballot, so an entry
/// with another term but the same kind and data may be this proposal —
/// or an identical command from someone else: commands that must be told
/// apart need a unique id (a session sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Its log position.
    pub index: LogIndex,
    /// The term (ballot) it was proposed in.
    pub term: Term,
}

/// A replica's part in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether an election could be won, without disturbing anyone
    /// (Raft thesis §9.6).
    PreCandidate,
    /// Running an election.
    Candidate,
    /// Accepts proposals and reads.
    Leader,
    /// A non-voting member catching up (Raft thesis §4.2.1).
    Learner,
}

/// Something the caller may want to know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// This replica's role, term or known leader changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The current term (ballot).
        term: Term,
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// The configuration in force changed (on append, not on commit).
    MembershipChanged(Membership),
}

/// A pulled batch of outputs. Fill it with
/// [`Replica::poll_output`](super::Replica::poll_output), act on it in field
/// order, then [`clear`](Output::clear) it and reuse its buffers.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Output {
    /// Writes to make durable, then report.
    pub persist: Option<Persist>,
    /// Messages that are safe to send now: nothing they depend on is
    /// still waiting to be made durable.
    pub messages: Vec<Envelope>,
    /// Entries to read back from storage for a lagging peer and hand back
    /// through [`Replica::handle_log_read`](super::Replica::handle_log_read),
    /// now or later. Only asked for with `retained_entries` set.
    pub log_reads: Vec<LogRead>,
    /// Replace the service's state with this snapshot before applying
    /// `committed`.
    pub restore: Option<Snapshot>,
    /// Committed entries, in order, each handed out once; all are durable here.
    pub committed: Vec<Entry>,
    /// Reads that became safe or failed.
    pub reads: Vec<ReadState>,
    /// Role and membership changes.
    pub events: Vec<Event>,
}

impl Output {
    /// True if the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.log_reads.is_empty()
            && self.restore.is_none()
            && self.committed.is_empty()
            && self.reads.is_empty()
            && self.events.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.persist = None;
        self.messages.clear();
        self.log_reads.clear();
        self.restore = None;
        self.committed.clear();
        self.reads.clear();
        self.events.clear();
    }
}

/// A snapshot of a replica's view, for status pages and invariant checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This replica.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term (ballot).
    pub term: Term,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit: LogIndex,
    /// Highest index handed out in [`Output::committed`] (or restored).
    pub applied: LogIndex,
    /// Index of the last entry in the log.
    pub last_index: LogIndex,
    /// Highest index known durable here.
    pub persisted: LogIndex,
    /// Index covered by the latest snapshot (0 if none).
    pub snapshot_index: LogIndex,
    /// The configuration in force.
    pub membership: Membership,
}

/// The leader's view of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer.
    pub id: NodeId,
    /// Highest index known replicated there.
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    /// When the peer was last heard from.
    pub last_heard: Option<Instant>,
    /// True for voters, false for learners.
    pub voter: bool,
}
