//! Leadership transfer (thesis §3.10): bring the target up to date, then
//! tell it to start an election at once.

use super::Raft;
use super::message::Body;
use crate::id::NodeId;
use crate::replica::{MessageError, Role, TransferError};

impl Raft {
    pub(super) fn start_transfer(&mut self, to: NodeId) -> Result<(), TransferError> {
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader { leader_hint: self.leader });
        }
        if to == self.id {
            return Err(TransferError::AlreadyLeader);
        }
        if !self.membership().is_voter(to) {
            return Err(TransferError::NotVoter(to));
        }
        if self.transfer.is_some_and(|(t, _)| t == to) {
            return Ok(());
        }
        // Proposals stop meanwhile, so the target can catch up; the attempt
        // is abandoned after an election timeout.
        self.transfer = Some((to, self.now + self.cfg.election_timeout));
        // The target's election overrides followers' leases, so ours ends
        // here — for the whole term, not only while the transfer lasts: a
        // vote request sent before we abandon it may still arrive after.
        self.reads.forfeit();
        if let Some(pr) = self.peer_mut(to) {
            // Probe at once rather than at the next heartbeat.
            pr.probe_sent = false;
            pr.needs_probe = true;
        }
        self.maybe_send_timeout_now(to);
        Ok(())
    }

    pub(super) fn maybe_send_timeout_now(&mut self, id: NodeId) {
        if self.transfer.is_some_and(|(t, _)| t == id) && self.peer_match(id) == self.log.last_index() {
            self.send(id, Body::TimeoutNow);
        }
    }

    pub(super) fn handle_timeout_now(&mut self, from: NodeId) -> Result<(), MessageError> {
        if self.role == Role::Leader {
            return Err(MessageError::Malformed("TimeoutNow sent to a leader"));
        }
        if !self.membership().is_voter(self.id) {
            return Ok(());
        }
        self.leader = Some(from);
        // Skip pre-vote: the leader itself asked (thesis §3.10).
        self.campaign(true);
        Ok(())
    }
}
