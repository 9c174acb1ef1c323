//! Single-decree Paxos — the synod protocol of "The Part-Time Parliament"
//! — as a one-value consensus object an embedder can drive: a few nodes
//! agree on one value (a configuration, a leader, a fencing epoch) despite
//! lost, duplicated and reordered messages and crashes.
//!
//! The roles are separate, pure types — [`Proposer`], [`Acceptor`],
//! [`Learner`] — and [`Decree`] puts one of each on a node with the
//! plumbing a real node needs: persistence before replies, messages to
//! itself, and the chosen value reported once.
//!
//! # Call order
//!
//! Build a [`Decree`] from the [`Durable`] state storage kept (default on
//! first start), then loop:
//!
//! - feed inputs: [`Decree::propose`] (or [`Decree::learn`] to find out
//!   without proposing), [`Decree::handle_message`], and
//!   [`Decree::handle_timeout`] once [`Decree::poll_timeout`] has passed;
//! - drain [`Decree::poll_output`] until it is empty, in field order:
//!   1. write [`Output::write`] (it replaces the whole stored state), make
//!      it durable, then call [`Decree::handle_persisted`] — replies that
//!      depend on it are held back until then;
//!   2. send [`Output::messages`];
//!   3. act on [`Output::chosen`], reported once per life.
//!
//! # A drive loop
//!
//! ```
//! use bytes::Bytes;
//! use synod_core::id::NodeId;
//! use synod_core::paxos::single::{Config, Decree, Durable, Output};
//! use synod_core::time::{Duration, Instant};
//!
//! let members = vec![NodeId(1), NodeId(2), NodeId(3)];
//! let mut nodes: Vec<Decree> = members
//!     .iter()
//!     .map(|id| Decree::new(Config::new(*id, members.clone(), id.0), Instant::ZERO, Durable::default()).unwrap())
//!     .collect();
//! let mut disks = vec![Durable::default(); 3]; // stand-ins for storage
//! let mut network: Vec<(NodeId, NodeId, synod_core::paxos::single::Message)> = Vec::new();
//! let mut chosen = vec![None; 3];
//! let mut now = Instant::ZERO;
//!
//! // Two nodes propose different values at once.
//! nodes[0].propose(now, Bytes::from_static(b"config-a")).unwrap();
//! nodes[2].propose(now, Bytes::from_static(b"config-c")).unwrap();
//! let mut out = Output::default();
//! for _ in 0..1000 {
//!     for (i, node) in nodes.iter_mut().enumerate() {
//!         loop {
//!             node.poll_output(&mut out);
//!             if out.is_empty() {
//!                 break;
//!             }
//!             if let Some(w) = out.write.take() {
//!                 disks[i] = w.state; // ... and fsync ...
//!                 node.handle_persisted(now, w.id);
//!             }
//!             for (to, msg) in out.messages.drain(..) {
//!                 network.push((node.id(), to, msg));
//!             }
//!             if let Some(v) = out.chosen.take() {
//!                 chosen[i] = Some(v);
//!             }
//!         }
//!     }
//!     for (from, to, msg) in network.drain(..) {
//!         let _ = nodes[to.0 as usize - 1].handle_message(now, from, msg);
//!     }
//!     now += Duration::from_millis(1);
//!     for node in nodes.iter_mut() {
//!         if node.poll_timeout().is_some_and(|t| t <= now) {
//!             node.handle_timeout(now);
//!         }
//!     }
//! }
//! let first = chosen[0].clone().expect("decided");
//! assert!(chosen.iter().all(|c| c.as_ref() == Some(&first)), "one value, everywhere");
//! assert!(first == "config-a" || first == "config-c");
//! assert_eq!(disks[1].chosen.as_ref(), Some(&first), "and it is durable");
//! ```

mod acceptor;
mod learner;
mod message;
mod proposer;

#[cfg(test)]
mod tests;

pub use acceptor::{Acceptor, AcceptorState};
pub use learner::Learner;
pub use message::Message;
pub use proposer::{Phase, Proposer, Timing};

use crate::id::NodeId;
use crate::replica::MessageError;
use crate::time::{Duration, Instant};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

/// A node's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every node, this one included; each is proposer, acceptor and learner.
    pub members: Vec<NodeId>,
    /// Seed of the node's random generator (backoffs).
    pub seed: u64,
    /// Round timeouts and backoffs.
    pub timing: Timing,
}

impl Config {
    /// Defaults for a LAN: 100 ms rounds, backoffs from 10 ms up to 1 s.
    pub fn new(id: NodeId, members: Vec<NodeId>, seed: u64) -> Config {
        Config {
            id,
            members,
            seed,
            timing: Timing {
                round_timeout: Duration::from_millis(100),
                backoff: Duration::from_millis(10),
                max_backoff: Duration::from_secs(1),
            },
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The node must be one of the members.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// A member is listed twice.
    #[error("node {0} is listed twice")]
    Duplicate(NodeId),
    /// Rounds must time out and backoffs must wait.
    #[error("round timeout and backoff must be non-zero")]
    ZeroTiming,
}

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// A value is chosen already; see [`Decree::chosen`].
    #[error("a value is already chosen")]
    AlreadyChosen,
}

/// Everything a node keeps in storage.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Durable {
    /// The acceptor's promise and acceptance.
    pub acceptor: AcceptorState,
    /// The value, once learned (saves a round after a restart).
    pub chosen: Option<Bytes>,
}

/// Identifies a [`Write`]; later writes have larger ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WriteId(pub u64);

/// The whole durable state, to store in place of the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a Write must be stored and then reported"]
pub struct Write {
    /// Report this id once `state` is durable.
    pub id: WriteId,
    /// The state.
    pub state: Durable,
}

/// A pulled batch of outputs; act on it in field order.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Output {
    /// State to make durable, then report.
    pub write: Option<Write>,
    /// Messages safe to send now.
    pub messages: Vec<(NodeId, Message)>,
    /// The chosen value, reported once per life.
    pub chosen: Option<Bytes>,
}

impl Output {
    /// True if the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.write.is_none() && self.messages.is_empty() && self.chosen.is_none()
    }
}

/// One node of single-decree Paxos: proposer, acceptor and learner. See
/// the [module docs](self) for the call order.
#[derive(Debug)]
pub struct Decree {
    id: NodeId,
    members: Vec<NodeId>,
    now: Instant,
    acceptor: Acceptor,
    proposer: Proposer,
    learner: Learner,
    /// The state as of the last write handed out.
    saved: Durable,
    next_write: u64,
    acked: u64,
    /// Messages waiting for a write: (write id, to, message), in order.
    waiting: VecDeque<(u64, NodeId, Message)>,
    /// Messages released, for peers or for this node itself.
    ready: Vec<(NodeId, Message)>,
    chosen_unreported: bool,
    /// The chosen value was announced to the others (or recovered).
    announced: bool,
}

impl Decree {
    /// A node restarted from `durable` (default on first start).
    ///
    /// Its proposer starts above the recovered promise: every ballot this
    /// node ever sent was first promised by its own acceptor and made
    /// durable (PMS §2.5: a proposer must not forget its highest ballot).
    pub fn new(cfg: Config, now: Instant, durable: Durable) -> Result<Decree, ConfigError> {
        let mut members = cfg.members.clone();
        members.sort_unstable();
        if let Some(w) = members.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::Duplicate(w[0]));
        }
        if members.binary_search(&cfg.id).is_err() {
            return Err(ConfigError::NotAMember(cfg.id));
        }
        if cfg.timing.round_timeout.is_zero() || cfg.timing.backoff.is_zero() {
            return Err(ConfigError::ZeroTiming);
        }
        let floor = durable.acceptor.promised;
        let mut d = Decree {
            id: cfg.id,
            acceptor: Acceptor::new(durable.acceptor.clone()),
            proposer: Proposer::new(cfg.id, members.clone(), floor, cfg.timing, cfg.seed),
            learner: Learner::new(members.clone()),
            members,
            now,
            saved: durable.clone(),
            next_write: 1,
            acked: 0,
            waiting: VecDeque::new(),
            ready: Vec::new(),
            chosen_unreported: false,
            announced: false,
        };
        if let Some(v) = durable.chosen {
            d.learner.learn(v.clone());
            d.proposer.learn(v);
            d.chosen_unreported = true;
            d.announced = true;
        }
        Ok(d)
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The chosen value, once this node knows it.
    pub fn chosen(&self) -> Option<&Bytes> {
        self.learner.chosen()
    }

    /// The acceptor's state, including changes not yet durable.
    pub fn acceptor(&self) -> &AcceptorState {
        self.acceptor.state()
    }

    /// The proposer's current phase.
    pub fn phase(&self) -> &Phase {
        self.proposer.phase()
    }

    /// Proposes `value`. The chosen value may be another node's: Paxos
    /// chooses one of the proposed values, not necessarily this one.
    pub fn propose(&mut self, now: Instant, value: Bytes) -> Result<(), ProposeError> {
        self.now = now;
        if self.chosen().is_some() {
            return Err(ProposeError::AlreadyChosen);
        }
        self.start(Some(value));
        Ok(())
    }

    /// Runs rounds without a value of its own until the chosen value is
    /// known here: a node that missed every announcement finds it through
    /// a quorum (PMS §2.3).
    pub fn learn(&mut self, now: Instant) {
        self.now = now;
        if self.chosen().is_none() {
            self.start(None);
        }
    }

    fn start(&mut self, value: Option<Bytes>) {
        self.proposer.observe(self.acceptor.state().promised);
        let mut out = Vec::new();
        self.proposer.start(self.now, value, &mut out);
        self.route(out);
    }

    /// Feeds a message from `from`. An error means it was ignored.
    pub fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<(), MessageError> {
        self.now = now;
        if from == self.id {
            return Err(MessageError::FromSelf);
        }
        if self.members.binary_search(&from).is_err() {
            return Err(MessageError::Malformed("sender is not a member"));
        }
        validate(from, &msg)?;
        self.receive(from, msg);
        Ok(())
    }

    /// Lets time pass: abandoned rounds, backoffs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.proposer.observe(self.acceptor.state().promised);
        let mut out = Vec::new();
        self.proposer.handle_timeout(now, &mut out);
        self.route(out);
    }

    /// When [`Decree::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.proposer.poll_timeout()
    }

    /// Reports that the write `id` (and every earlier one) is durable.
    pub fn handle_persisted(&mut self, now: Instant, id: WriteId) {
        self.now = now;
        let id = id.0.min(self.next_write - 1);
        if id <= self.acked {
            return;
        }
        self.acked = id;
        while self.waiting.front().is_some_and(|(dep, _, _)| *dep <= self.acked) {
            if let Some((_, to, msg)) = self.waiting.pop_front() {
                self.ready.push((to, msg));
            }
        }
    }

    /// Moves pending outputs into `out`.
    pub fn poll_output(&mut self, out: &mut Output) {
        // Released messages to this node itself are handled here; they
        // may release or produce more.
        loop {
            let ready = core::mem::take(&mut self.ready);
            let mut local = false;
            for (to, msg) in ready {
                if to == self.id {
                    local = true;
                    self.receive(to, msg);
                } else {
                    out.messages.push((to, msg));
                }
            }
            if !local {
                break;
            }
        }
        let state = self.durable();
        if state != self.saved {
            let id = WriteId(self.next_write);
            self.next_write += 1;
            self.saved = state.clone();
            out.write = Some(Write { id, state });
        }
        if core::mem::take(&mut self.chosen_unreported) {
            out.chosen = self.learner.chosen().cloned();
        }
    }

    fn durable(&self) -> Durable {
        Durable { acceptor: self.acceptor.state().clone(), chosen: self.learner.chosen().cloned() }
    }

    /// Sends `msg` once every write made so far is durable: the acceptor's
    /// replies claim its state, and a proposer's requests carry a ballot
    /// its own acceptor must have promised first.
    fn send_after_writes(&mut self, to: NodeId, msg: Message) {
        let dep = if self.durable() != self.saved { self.next_write } else { self.next_write - 1 };
        if dep <= self.acked && self.waiting.is_empty() {
            self.ready.push((to, msg));
        } else {
            self.waiting.push_back((dep, to, msg));
        }
    }

    /// Routes a proposer's messages: this node's own acceptor answers
    /// first, so requests to others wait for its promise to be durable.
    fn route(&mut self, msgs: Vec<(NodeId, Message)>) {
        let (local, remote): (Vec<_>, Vec<_>) = msgs.into_iter().partition(|(to, _)| *to == self.id);
        for (_, msg) in local {
            self.receive(self.id, msg);
        }
        for (to, msg) in remote {
            self.send_after_writes(to, msg);
        }
    }

    fn receive(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::Prepare { .. } | Message::Accept { .. } if self.chosen().is_some() => {
                // Decided: tell the proposer instead of voting again.
                let value = self.learner.chosen().cloned().unwrap_or_default();
                self.ready.push((from, Message::Chosen { value }));
            }
            Message::Prepare { ballot } => {
                self.proposer.observe(ballot);
                let reply = self.acceptor.handle_prepare(ballot);
                self.send_after_writes(from, reply);
            }
            Message::Accept { ballot, value } => {
                self.proposer.observe(ballot);
                match self.acceptor.handle_accept(ballot, value) {
                    // PMS §2.3: tell the proposer and every learner.
                    reply @ Message::Accepted { .. } => {
                        for m in self.members.clone() {
                            self.send_after_writes(m, reply.clone());
                        }
                    }
                    nack => self.send_after_writes(from, nack),
                }
            }
            Message::Promise { ballot, accepted } => {
                let mut out = Vec::new();
                self.proposer.handle_promise(self.now, from, ballot, accepted, &mut out);
                self.route(out);
            }
            Message::Accepted { ballot, value } => {
                let by_learner = self.learner.handle_accepted(from, ballot, value);
                let by_proposer = self.proposer.handle_accepted(from, ballot);
                if let Some(v) = by_learner.or(by_proposer) {
                    self.on_chosen(v);
                }
            }
            Message::Nack { ballot, promised } => self.proposer.handle_nack(self.now, ballot, promised),
            Message::Chosen { value } => self.on_chosen(value),
        }
    }

    /// Learned, here or from a peer: stop proposing and tell everyone once.
    fn on_chosen(&mut self, value: Bytes) {
        if self.announced {
            return;
        }
        self.announced = true;
        if self.learner.chosen().is_none() {
            self.learner.learn(value.clone());
        }
        self.proposer.learn(value.clone());
        self.chosen_unreported = true;
        for m in self.members.clone() {
            if m != self.id {
                self.ready.push((m, Message::Chosen { value: value.clone() }));
            }
        }
    }
}

/// Structural checks a correct peer always passes.
fn validate(from: NodeId, msg: &Message) -> Result<(), MessageError> {
    match msg {
        Message::Prepare { ballot } | Message::Accept { ballot, .. } if ballot.node != from => {
            Err(MessageError::Malformed("ballot of another proposer"))
        }
        Message::Promise { ballot, accepted: Some((b, _)) } if b > ballot || *b == crate::id::Ballot::ZERO => {
            Err(MessageError::Malformed("promise reports an acceptance above its ballot"))
        }
        Message::Nack { ballot, promised } if promised <= ballot => {
            Err(MessageError::Malformed("nack without a higher ballot"))
        }
        _ => Ok(()),
    }
}
