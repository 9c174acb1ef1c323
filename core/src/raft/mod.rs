//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", and Ongaro's thesis), as a sans-IO [`Replica`].
//!
//! The machine is split by concern: [`election`](self) (pre-vote,
//! check-quorum, votes), replication (progress, appends, the commit rule),
//! reads (ReadIndex and leases), membership (joint consensus, learners),
//! snapshots, leadership transfer, and durability (persist-before-send).
//!
//! ```
//! use synod_core::id::NodeId;
//! use synod_core::raft::{Config, Raft};
//! use synod_core::replica::{Membership, Recovered, Replica, Role};
//! use synod_core::time::Instant;
//!
//! let voters = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap();
//! let raft = Raft::new(Config::new(NodeId(1), 42), Instant::ZERO, Recovered::default(), voters).unwrap();
//! assert_eq!(raft.status().role, Role::Follower);
//! ```

mod config;
mod election;
mod log;
mod membership;
mod message;
mod progress;
mod read;
mod replication;
mod snapshot;
mod step;
mod transfer;

#[cfg(test)]
mod tests;

/// One error type for both protocols ([`crate::replica::ConfigError`], [`crate::replica::NewError`]).
pub use crate::replica::{ConfigError, NewError};
pub use config::{Config, ReadMode};
pub use message::{
    Append, AppendResponse, Body, Heartbeat, HeartbeatResponse, Message, SnapshotChunk, SnapshotResponse, VoteRequest,
    VoteResponse,
};

use crate::id::{LogIndex, NodeId, Term};
use crate::rand::Rng;
use crate::replica::durability::Durability;
use crate::replica::outbox::Outbox;
use crate::replica::reads::Reads;
use crate::replica::snapshot_transfer::Incoming;
use crate::replica::{
    self, EntryKind, Envelope, Event, HardState, Membership, MessageError, RecoverError, Recovered, Replica, Role,
    Status,
};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use log::RaftLog;
use progress::Progress;

/// A Raft replica. See [`Replica`] for the call order.
#[derive(Debug)]
pub struct Raft {
    id: NodeId,
    cfg: Config,
    rng: Rng,
    /// The latest time given by the caller.
    now: Instant,

    term: Term,
    vote: Option<NodeId>,
    log: RaftLog,
    role: Role,
    leader: Option<NodeId>,
    last_event: Option<(Role, Term, Option<NodeId>)>,

    /// Configuration entries after the snapshot, oldest first; the last is
    /// in force (thesis §4.1: a configuration takes effect when appended).
    configs: VecDeque<(LogIndex, Membership)>,

    election_deadline: Instant,
    heartbeat_deadline: Instant,
    quorum_check_deadline: Instant,
    /// When a leader of the current term was last heard from.
    last_leader_contact: Option<Instant>,
    /// Votes received in the current (pre-)election.
    votes: Vec<(NodeId, bool)>,

    /// Leader only: every other member's progress.
    peers: Vec<Progress>,
    /// Leader only: index of the latest configuration entry it appended.
    pending_conf_index: LogIndex,
    /// The simulator's skip-the-joint-phase canary is planted.
    #[cfg(feature = "canary")]
    skip_joint: bool,
    /// Leader only: payload bytes proposed and not yet committed.
    uncommitted_bytes: usize,
    /// Leader only: the commit index moved since followers were last told.
    commit_unsent: bool,
    /// Leader only: an ongoing transfer to `.0`, abandoned at `.1`.
    transfer: Option<(NodeId, Instant)>,
    reads: Reads,

    /// Follower only: a snapshot being received.
    incoming: Option<Incoming>,

    durability: Durability,
    outbox: Outbox,
}

impl Raft {
    /// Builds a replica from what storage recovered.
    ///
    /// `initial` is the configuration to bootstrap with when storage holds
    /// none (a brand-new cluster: every founding member passes the same
    /// one). A node that will be added to a running cluster passes
    /// [`Membership::default()`] and waits to hear from the leader.
    ///
    /// **A node absent from its own membership is not an error**: it is
    /// how a joining node starts. Such a node never campaigns and never
    /// counts toward a quorum; it only follows a leader that contacts it,
    /// until a configuration that names it commits. A founding member
    /// whose id is missing from `initial` by mistake therefore sits idle
    /// rather than failing: check [`Status::membership`](crate::replica::Status)
    /// after start if the id comes from operator input.
    pub fn new(cfg: Config, now: Instant, recovered: Recovered, initial: Membership) -> Result<Raft, NewError> {
        cfg.validate()?;
        let Recovered { hard_state, snapshot, entries } = recovered;
        let has_snapshot = snapshot.is_some();
        let mut snapshot = snapshot.unwrap_or_default();
        replica::check_recovered(&snapshot.meta, &entries, true)?;
        let mut configs = VecDeque::new();
        for e in entries.iter().filter(|e| e.kind == EntryKind::Membership && e.index > snapshot.meta.index) {
            let m = Membership::decode_exact(&e.data).map_err(|_| RecoverError::BadMembership(e.index))?;
            configs.push_back((e.index, m));
        }
        if !has_snapshot {
            snapshot.meta.membership = initial;
        }
        let restore = (snapshot.meta.index > LogIndex(0)).then(|| snapshot.clone());
        let log = RaftLog::recovered(snapshot, entries, hard_state.commit);
        // A crash can keep entries of a term whose hard state was not yet
        // written; the term is then at least that of the last entry.
        let (term, vote) = if log.last_term() > hard_state.term {
            (log.last_term(), None)
        } else {
            (hard_state.term, hard_state.vote)
        };
        let mut rng = Rng::with_seed(cfg.seed);
        let saved = HardState { term: hard_state.term, vote: hard_state.vote, commit: hard_state.commit };
        let mut raft = Raft {
            id: cfg.id,
            reads: Reads::default(),
            election_deadline: now + rng.duration(cfg.election_timeout, cfg.election_timeout * 2),
            rng,
            cfg,
            now,
            term,
            vote,
            log,
            role: Role::Follower,
            leader: None,
            last_event: None,
            configs,
            heartbeat_deadline: Instant::MAX,
            quorum_check_deadline: Instant::MAX,
            last_leader_contact: None,
            votes: Vec::new(),
            peers: Vec::new(),
            pending_conf_index: LogIndex(0),
            #[cfg(feature = "canary")]
            skip_joint: false,
            uncommitted_bytes: 0,
            commit_unsent: false,
            transfer: None,
            incoming: None,
            durability: Durability::new(saved),
            outbox: Outbox { restore, ..Outbox::default() },
        };
        raft.role = raft.follower_role();
        raft.emit_role();
        Ok(raft)
    }

    /// The configuration in force.
    pub fn membership(&self) -> &Membership {
        self.configs.back().map_or(&self.log.snapshot.meta.membership, |(_, m)| m)
    }

    fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.commit }
    }

    fn emit_role(&mut self) {
        let now = (self.role, self.term, self.leader);
        if self.last_event != Some(now) {
            self.last_event = Some(now);
            self.outbox.events.push(Event::RoleChanged { role: self.role, term: self.term, leader: self.leader });
        }
    }

    /// Sends a leader-to-follower message at once: it depends on nothing
    /// unwritten (thesis §10.2.1: a leader may replicate before its own
    /// write is durable).
    /// What the shared leader code sends with (`leader_methods!`).
    fn send_as_leader(&mut self, to: NodeId, body: Body) {
        self.send(to, body);
    }

    fn send(&mut self, to: NodeId, body: Body) {
        let msg = replica::Message::Raft(Message { term: self.term, body });
        self.durability.send_now(Envelope { to, msg });
    }

    /// Sends a reply that claims durable state: held back until every
    /// write made so far is reported durable.
    fn reply_after_writes(&mut self, to: NodeId, body: Body) {
        let dep = self.durability.dep_all(self.log.has_unstable(), self.hard_state());
        let msg = replica::Message::Raft(Message { term: self.term, body });
        self.durability.send_after(dep, Envelope { to, msg });
    }

    /// Sends a reply that depends only on the current term and vote being
    /// durable (Raft Figure 2: persist before responding).
    fn reply_after_term(&mut self, to: NodeId, body: Body) {
        let dep = self.durability.dep_vote(self.hard_state());
        let msg = replica::Message::Raft(Message { term: self.term, body });
        self.durability.send_after(dep, Envelope { to, msg });
    }

    fn peer_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.peers.iter_mut().find(|p| p.id == id)
    }

    fn peer_match(&self, id: NodeId) -> LogIndex {
        if id == self.id {
            return self.log.persisted;
        }
        self.peers.iter().find(|p| p.id == id).map_or(LogIndex(0), |p| p.match_index)
    }
}

impl Replica for Raft {
    crate::replica::engine::replica_methods!();

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: replica::Message) -> Result<(), MessageError> {
        self.now = now;
        let replica::Message::Raft(msg) = msg else { return Err(MessageError::WrongProtocol) };
        self.step(from, msg)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.role {
            Role::Leader => {
                let mut t = self.heartbeat_deadline.min(self.quorum_check_deadline);
                if let Some((_, deadline)) = self.transfer {
                    t = t.min(deadline);
                }
                Some(t)
            }
            Role::Learner => None,
            _ if !self.membership().is_voter(self.id) => None,
            _ => Some(self.election_deadline),
        }
    }

    fn status(&self) -> Status {
        Status {
            id: self.id,
            role: self.role,
            term: self.term,
            leader: self.leader,
            commit: self.log.commit,
            applied: self.log.applied,
            last_index: self.log.last_index(),
            persisted: self.log.persisted,
            snapshot_index: self.log.snapshot.meta.index,
            membership: self.membership().clone(),
        }
    }
}
