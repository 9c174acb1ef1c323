//! A joining node finds the cluster. Started with no configuration and
//! the addresses of one or more members (`NodeConfig::peers`), it can
//! reach only those, and the transport admits only those — but the
//! leader that adds it may be another node, and consensus answers the
//! leader only. So until its own configuration arrives, the node asks the
//! members it knows, one per turn, for the configuration in force
//! ([`RequestOp::Configuration`]) and adds every member's address to its
//! transport's peers: it can then take the leader's connection and answer
//! it. The members it learns of are asked in turn too, so an answer from
//! a member that is behind (or was removed and still runs) is corrected
//! by the next. Naming one existing member is enough (etcd's
//! `--initial-cluster` for a new member names them all).

use super::machine::Machine;
use crate::client::{ClientError, ClientRequest, RequestOp};
use crate::codec::Frame;
use bytes::Bytes;
use std::collections::BTreeMap;
use synod_core::id::NodeId;
use synod_core::replica::Membership;
use synod_core::service::Service;
use synod_core::time::{Duration, Instant};

/// How often a joining node asks again: the answer can change (the node
/// may not be added yet, or leadership may move) until its own
/// configuration arrives, and a question costs a few bytes.
pub(super) const ASK_EVERY: Duration = Duration::from_millis(500);

/// Where the asking stands.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    /// The replica has had a configuration: nothing more to ask.
    pub configured: bool,
    /// When to ask next.
    next_at: Option<Instant>,
    /// Which of the known members to ask next.
    turn: usize,
    /// The question in flight: its id and whom it went to.
    asking: Option<(u64, NodeId)>,
    /// Questions asked and not answered in a row.
    unanswered: u32,
}

/// Unanswered questions in a row before the node says so in its log.
const QUIET_WARNING: u32 = 20;

impl Discovery {
    /// Nothing to ask for a node that has a configuration already.
    pub fn new(configured: bool) -> Self {
        Discovery { configured, ..Discovery::default() }
    }
}

impl<S: Service> Machine<S> {
    /// True while this node has no configuration and knows members to ask.
    fn joining(&self) -> bool {
        !self.discovery.configured && self.cfg.peers.as_ref().is_some_and(|p| !p.is_empty())
    }

    /// When [`Machine::discover`] next has work.
    pub(super) fn discovery_due(&self) -> Option<Instant> {
        self.joining().then(|| self.discovery.next_at.unwrap_or(self.now))
    }

    /// Asks the next known member for the configuration in force, if due.
    pub(super) fn discover(&mut self, now: Instant) {
        if !self.joining() || self.discovery.next_at.is_some_and(|t| t > now) {
            return;
        }
        // The members it was told of, then every member it learned of.
        let mut known: Vec<NodeId> = self.cfg.peers.iter().flat_map(|p| p.keys().copied()).collect();
        known.extend(self.peers.iter().flat_map(|p| p.keys().copied()));
        known.sort_unstable();
        known.dedup();
        known.retain(|id| *id != self.cfg.id);
        let Some(to) = known.get(self.discovery.turn % known.len().max(1)).copied() else { return };
        self.discovery.turn = self.discovery.turn.wrapping_add(1);
        if self.discovery.asking.is_some() {
            self.discovery.unanswered += 1;
            if self.discovery.unanswered.is_multiple_of(QUIET_WARNING) {
                tracing::warn!(node = %self.cfg.id, asked = ?known, unanswered = self.discovery.unanswered,
                    "joining: no member answers with the configuration in force; are the members in --members \
                     reachable, and has this node been added (synod member add)?");
            }
        }
        let id = self.requests.next_forward_id();
        self.out.frames.push((to, Frame::Request(ClientRequest { id, op: RequestOp::Configuration })));
        self.discovery.asking = Some((id, to));
        self.discovery.next_at = Some(now + ASK_EVERY);
    }

    /// Takes a reply if it answers the question in flight.
    pub(super) fn discovery_answered(&mut self, from: NodeId, id: u64, result: &Result<Bytes, ClientError>) -> bool {
        if self.discovery.asking != Some((id, from)) {
            return false;
        }
        self.discovery.asking = None;
        self.discovery.unanswered = 0;
        let Ok(bytes) = result else { return true };
        match Membership::decode_exact(bytes) {
            Ok(m) if self.joining() => self.learned(from, &m),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(node = %self.cfg.id, peer = %from, error = ?e, "undecodable configuration; ignored")
            }
        }
        true
    }

    /// Every member of `m` with a recorded address joins the transport's
    /// peers, beside the members this node was started with.
    fn learned(&mut self, from: NodeId, m: &Membership) {
        // Beside those named and those learned before: an answer from a
        // member that is behind must not make the node forget the others.
        let mut peers: BTreeMap<NodeId, String> =
            self.peers.clone().or_else(|| self.cfg.peers.clone()).unwrap_or_default();
        peers.extend(super::machine::peers_of(&self.cfg, m).unwrap_or_default());
        peers.remove(&self.cfg.id);
        if self.peers.as_ref() != Some(&peers) {
            tracing::info!(node = %self.cfg.id, asked = %from, members = ?peers.keys().collect::<Vec<_>>(),
                "learned the members of the cluster being joined");
            self.peers = Some(peers.clone());
            self.out.peers = Some(peers);
        }
    }
}
