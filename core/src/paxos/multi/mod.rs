//! Multi-Paxos as a [`Replica`]: the same interface as Raft, so the
//! simulator, the services and the node driver run on it unchanged.
//!
//! # The protocol
//!
//! Every slot of the log is one instance of the synod protocol (PTP §3,
//! PMS §3). A stable leader runs phase 1 once, for every slot above its
//! commit index, then phase 2 for each new slot, many slots per message
//! (PMMC §3; PML §3):
//!
//! - **Ballots** are `(round, node)`, so no two nodes share one. A node
//!   that hears no leader for a randomized election timeout picks the
//!   smallest ballot of its own above every ballot it has seen, promises
//!   it to itself, and sends a prepare for all slots above its commit index.
//! - **Recovery.** Each promise reports the acceptor's accepted slots with
//!   their ballots. For every slot above its commit index the new leader
//!   proposes the value of the highest ballot any promiser reported
//!   (PMS §2.2 P2c), and a no-op ([`EntryKind::Noop`]) where none did, then
//!   re-proposes them all in its own ballot.
//! - **Phase 2.** Accept messages carry consecutive slots under a byte
//!   limit. An acceptor accepts any slot in a ballot at least its promise,
//!   in any order. A slot is chosen once a majority accepted it in the
//!   leader's ballot; the commit index is the end of the chosen prefix.
//! - **Learning.** An acceptor marks its slot `i` chosen when the leader of
//!   its promised ballot reports a commit index of at least `i` and the
//!   slot holds a value of that ballot: a leader proposes one value per
//!   slot per ballot, and commits only what it proposed. Slots it holds
//!   from other ballots are sent again in the leader's ballot (re-proposing
//!   a chosen value is always safe), or covered by a snapshot when compacted.
//! - **Heartbeats** keep followers from campaigning, carry the commit index,
//!   and confirm read rounds. An acceptor refuses to help a candidate for
//!   an election timeout after hearing from a live leader, and refuses a
//!   candidate whose commit index is below its snapshot (it could not learn
//!   what it must re-propose): the best-informed live node wins instead.
//! - **Reads** are linearizable by a quorum round after the read arrives
//!   (a read barrier, as Raft's ReadIndex), or by a leader lease
//!   ([`ReadMode`]), once the slots recovered at election are chosen.
//!
//! # Persistence
//!
//! Durable state maps onto the shared types: the promised ballot is
//! [`HardState::term`], each slot's accepted ballot is its [`Entry::term`],
//! both packed as `round << 16 | node` ([`crate::paxos::ballot_term`]),
//! which is why node ids must be below 65,536 ([`ConfigError::NodeIdTooLarge`]).
//! Slots accepted out of order leave explicit holes (term 0), and changing
//! a stored slot rewrites the stored suffix from there: see the log module
//! for why that is correct (if not optimal). Every answer that claims
//! a promise or an acceptance is held back until it is durable.
//!
//! Leadership moves on request ([`Replica::transfer_leader`]; see the
//! transfer module). Membership changes through [`Replica::change_membership`]
//! by joint configurations carried in the log, each governing the slots
//! after its own: see the membership module for the rules and their
//! sources.
//!
//! ```
//! use synod_core::id::NodeId;
//! use synod_core::paxos::multi::{Config, MultiPaxos};
//! use synod_core::replica::{Membership, Recovered, Replica, Role};
//! use synod_core::time::Instant;
//!
//! let voters = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap();
//! let node = MultiPaxos::new(Config::new(NodeId(1), 42), Instant::ZERO, Recovered::default(), voters).unwrap();
//! assert_eq!(node.status().role, Role::Follower);
//! ```

mod acceptor;
mod config;
mod election;
mod leader;
mod log;
mod membership;
mod message;
mod progress;
mod read;
mod snapshot;
mod step;
mod transfer;

#[cfg(test)]
mod tests;

/// One error type for both protocols ([`crate::replica::ConfigError`], [`crate::replica::NewError`]).
pub use crate::replica::{ConfigError, NewError};
pub use config::{Config, ReadMode};
pub use message::{
    Accept, Accepted, Body, Heartbeat, HeartbeatResponse, Message, Nack, NackReason, Prepare, Promise, SnapshotChunk,
    SnapshotResponse,
};

use super::{MAX_NODES, ballot_term, term_ballot};
use crate::id::{Ballot, LogIndex, NodeId, Term};
use crate::rand::Rng;
use crate::replica::durability::Durability;
use crate::replica::outbox::Outbox;
use crate::replica::reads::Reads;
use crate::replica::snapshot_transfer::Incoming;
use crate::replica::{
    self, Entry, EntryKind, Envelope, Event, HardState, Membership, MessageError, RecoverError, Recovered, Replica,
    Role, Status,
};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use log::PaxosLog;
use progress::Progress;

/// A phase 1 in progress.
#[derive(Debug)]
struct Campaign {
    ballot: Ballot,
    /// The ballot of the leader that asked us to take over, if one did.
    transfer: Option<Ballot>,
    /// Answers so far: (acceptor, promised?, reported entries).
    answers: Vec<(NodeId, bool, Vec<Entry>)>,
    /// Voters sent a prepare: those of every configuration discovered.
    asked: Vec<NodeId>,
}

/// A Multi-Paxos replica: proposer (leader), acceptor and learner of every
/// slot. See [`Replica`] for the call order and the [module docs](self)
/// for the protocol.
#[derive(Debug)]
pub struct MultiPaxos {
    id: NodeId,
    cfg: Config,
    rng: Rng,
    /// The latest time given by the caller.
    now: Instant,
    /// The configuration chosen at the commit index.
    membership: Membership,
    /// Configurations chosen above the snapshot index, by slot.
    configs: VecDeque<(LogIndex, Membership)>,
    /// Leader only: configuration entries in its log above the commit
    /// index, by slot (at most one outside a recovery).
    pending: Vec<(LogIndex, Membership)>,
    /// The simulator's skip-the-joint-phase canary is planted.
    #[cfg(feature = "canary")]
    skip_joint: bool,
    /// The simulator's one-configuration-phase-1 canary is planted.
    #[cfg(feature = "canary")]
    one_config_phase1: bool,

    /// The acceptor's promise (phase 1b); also this node's ballot while it
    /// campaigns or leads.
    promised: Ballot,
    /// The highest ballot heard of; a campaign goes above it.
    highest_seen: Ballot,
    role: Role,
    leader: Option<NodeId>,
    last_event: Option<(Role, Term, Option<NodeId>)>,
    log: PaxosLog,
    /// Every slot in `(commit, prefix]` holds a value of `promised`.
    prefix: LogIndex,

    election_deadline: Instant,
    heartbeat_deadline: Instant,
    quorum_check_deadline: Instant,
    /// When the leader of `promised` was last heard from.
    last_leader_contact: Option<Instant>,
    /// Lease mode: refuse every candidate until then after a restart, since
    /// the lease this acceptor honoured before the crash is forgotten.
    quiet_until: Instant,
    campaign: Option<Campaign>,

    /// Leader only: every other member's progress.
    peers: Vec<Progress>,
    /// Leader only: the last slot recovered at election; reads wait until
    /// it is chosen.
    recovery_end: LogIndex,
    /// Leader only: an ongoing transfer to `.0`, abandoned at `.1`.
    transfer: Option<(NodeId, Instant)>,
    /// Leader only: payload bytes proposed and not yet chosen.
    uncommitted_bytes: usize,
    /// Leader only: the commit index moved since acceptors were last told.
    commit_unsent: bool,
    reads: Reads,

    /// A snapshot being received.
    incoming: Option<Incoming>,

    durability: Durability,
    outbox: Outbox,
}

impl MultiPaxos {
    /// Builds a replica from what storage recovered.
    ///
    /// `initial` is the configuration to bootstrap with when storage holds
    /// no snapshot (which records it); configuration entries chosen in the
    /// recovered log apply on top. Every member id must be below 65,536
    /// ([`ConfigError::NodeIdTooLarge`]).
    ///
    /// **A node absent from its configuration is not an error**: it runs
    /// as a learner, never proposing and never counted in a quorum, and
    /// learns what the members choose. A node that will be added to a
    /// running cluster passes [`Membership::default()`] and waits to hear
    /// from the leader.
    pub fn new(cfg: Config, now: Instant, recovered: Recovered, initial: Membership) -> Result<MultiPaxos, NewError> {
        cfg.validate()?;
        let Recovered { hard_state, snapshot, entries } = recovered;
        let mut snapshot = snapshot.unwrap_or_default();
        replica::check_recovered(&snapshot.meta, &entries, false)?;
        if snapshot.meta.membership.is_empty() {
            if initial.is_joint() {
                return Err(ConfigError::JointMembership.into());
            }
            snapshot.meta.membership = initial;
        }
        if let Some(big) = snapshot.meta.membership.members().find(|m| m.0 >= MAX_NODES) {
            return Err(ConfigError::NodeIdTooLarge(big).into());
        }
        let mut configs = VecDeque::new();
        for e in entries.iter().filter(|e| e.kind == EntryKind::Membership && e.index > snapshot.meta.index) {
            let m = membership::decode_config(e).map_err(|_| RecoverError::BadMembership(e.index))?;
            configs.push_back((e.index, m));
        }
        let restore = (snapshot.meta.index > LogIndex(0)).then(|| snapshot.clone());
        // A crash can keep an acceptance whose promise was written in the
        // same batch; the promise is never below what was accepted.
        let top = entries.iter().map(|e| e.term).max().unwrap_or(Term(0)).max(hard_state.term);
        let promised = term_ballot(top);
        let log = PaxosLog::recovered(snapshot, entries, hard_state.commit);
        // Only chosen configurations apply; those above the commit index
        // are found again by phase 1 if they matter.
        configs.retain(|(i, _)| *i <= log.commit);
        let membership = configs.back().map_or(&log.snapshot.meta.membership, |(_, m)| m).clone();
        let mut rng = Rng::with_seed(cfg.seed);
        let quiet_until = match cfg.read_mode {
            ReadMode::Lease { .. } => now + cfg.election_timeout,
            ReadMode::ReadIndex => now,
        };
        let mut node = MultiPaxos {
            id: cfg.id,
            election_deadline: now + rng.duration(cfg.election_timeout, cfg.election_timeout * 2),
            rng,
            cfg,
            now,
            membership,
            configs,
            pending: Vec::new(),
            #[cfg(feature = "canary")]
            skip_joint: false,
            #[cfg(feature = "canary")]
            one_config_phase1: false,
            promised,
            highest_seen: promised,
            role: Role::Follower,
            leader: None,
            last_event: None,
            log,
            prefix: LogIndex(0),
            heartbeat_deadline: Instant::MAX,
            quorum_check_deadline: Instant::MAX,
            last_leader_contact: None,
            quiet_until,
            campaign: None,
            peers: Vec::new(),
            recovery_end: LogIndex(0),
            transfer: None,
            uncommitted_bytes: 0,
            commit_unsent: false,
            reads: Reads::default(),
            incoming: None,
            durability: Durability::new(hard_state),
            outbox: Outbox { restore, ..Outbox::default() },
        };
        node.reset_prefix();
        node.role = node.follower_role();
        node.emit_role();
        Ok(node)
    }

    /// The configuration chosen at the commit index.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The promised ballot: this node's own while it campaigns or leads.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    fn hard_state(&self) -> HardState {
        HardState { term: ballot_term(self.promised), vote: None, commit: self.log.commit }
    }

    fn emit_role(&mut self) {
        let now = (self.role, ballot_term(self.promised), self.leader);
        if self.last_event != Some(now) {
            self.last_event = Some(now);
            self.outbox.events.push(Event::RoleChanged { role: self.role, term: now.1, leader: self.leader });
        }
    }

    fn envelope(&self, to: NodeId, ballot: Ballot, body: Body) -> Envelope {
        Envelope { to, msg: replica::Message::MultiPaxos(Message { ballot, body }) }
    }

    /// Sends at once: depends on nothing unwritten (a leader's requests,
    /// refusals).
    /// What the shared leader code sends with (`leader_methods!`): in
    /// the ballot it leads.
    fn send_as_leader(&mut self, to: NodeId, body: Body) {
        self.send(to, self.promised, body);
    }

    fn send(&mut self, to: NodeId, ballot: Ballot, body: Body) {
        let env = self.envelope(to, ballot, body);
        self.durability.send_now(env);
    }

    /// Sends an answer that claims durable acceptances: held back until
    /// every write made so far is reported durable.
    fn reply_after_writes(&mut self, to: NodeId, ballot: Ballot, body: Body) {
        let dep = self.durability.dep_all(self.log.has_unstable(), self.hard_state());
        let env = self.envelope(to, ballot, body);
        self.durability.send_after(dep, env);
    }

    /// Sends a message that depends only on the promise being durable.
    fn reply_after_promise(&mut self, to: NodeId, ballot: Ballot, body: Body) {
        let dep = self.durability.dep_vote(self.hard_state());
        let env = self.envelope(to, ballot, body);
        self.durability.send_after(dep, env);
    }

    fn peer_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.peers.iter_mut().find(|p| p.id == id)
    }
}

impl Replica for MultiPaxos {
    crate::replica::engine::replica_methods!();

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: replica::Message) -> Result<(), MessageError> {
        self.now = now;
        let replica::Message::MultiPaxos(msg) = msg else { return Err(MessageError::WrongProtocol) };
        self.step(from, msg)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.role {
            Role::Leader => Some(self.heartbeat_deadline.min(self.quorum_check_deadline)),
            _ if !self.membership.is_voter(self.id) => None,
            _ => Some(self.election_deadline),
        }
    }

    fn status(&self) -> Status {
        Status {
            id: self.id,
            role: self.role,
            term: ballot_term(self.promised),
            leader: self.leader,
            commit: self.log.commit,
            applied: self.log.applied,
            last_index: self.log.last_index(),
            persisted: self.log.persisted,
            snapshot_index: self.log.snapshot.meta.index,
            membership: self.membership.clone(),
        }
    }
}
