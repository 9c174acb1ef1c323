//! Leadership transfer: the leader stops proposing, brings the target's
//! log up to its own, then asks it to campaign at once (as Raft thesis
//! §3.10's TimeoutNow). The target's prepare names the leader's ballot, so
//! acceptors that follow that leader promise despite their lease; the
//! leader forfeits its own lease for the rest of its leadership when it
//! asks, since such a prepare may still arrive after it gave up waiting.
//! Safety never rests on the transfer: the target is one more candidate
//! and recovers what it must re-propose from the promises (PMS §2.2).

use super::MultiPaxos;
use super::message::Body;
use crate::id::{Ballot, NodeId};
use crate::replica::{Role, TransferError};

impl MultiPaxos {
    pub(super) fn start_transfer(&mut self, to: NodeId) -> Result<(), TransferError> {
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader { leader_hint: self.leader });
        }
        if to == self.id {
            return Err(TransferError::AlreadyLeader);
        }
        if !self.membership.is_voter(to) {
            return Err(TransferError::NotVoter(to));
        }
        if self.transfer.is_some_and(|(t, _)| t == to) {
            return Ok(());
        }
        // Proposals stop meanwhile, so the target can catch up; the attempt
        // is abandoned after an election timeout.
        self.transfer = Some((to, self.now + self.cfg.election_timeout));
        self.reads.forfeit();
        self.maybe_send_timeout_now(to);
        Ok(())
    }

    /// Asks the target to campaign once it holds every slot we proposed.
    pub(super) fn maybe_send_timeout_now(&mut self, id: NodeId) {
        let last = self.log.last_index();
        let caught_up = self.peers.iter().any(|p| p.id == id && p.match_index >= last);
        if self.transfer.is_some_and(|(t, _)| t == id) && caught_up {
            let ballot = self.promised;
            self.send(id, ballot, Body::TimeoutNow);
        }
    }

    /// The leader of `ballot` hands over. Stale requests (another ballot,
    /// or one we no longer follow) are ignored.
    pub(super) fn handle_timeout_now(&mut self, from: NodeId, ballot: Ballot) {
        let follows = matches!(self.role, Role::Follower) && self.leader == Some(from) && self.promised == ballot;
        if follows && self.membership.is_voter(self.id) {
            self.campaign(Some(ballot));
        }
    }
}
