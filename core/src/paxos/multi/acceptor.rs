//! The acceptor of every slot (PMS §2.2 phases 1b and 2b) and what it
//! learns from the leader it follows.

use super::MultiPaxos;
use super::log::is_hole;
use super::message::{Accept, Accepted, Body, Heartbeat, HeartbeatResponse, Nack, NackReason, Prepare, Promise};
use crate::id::{Ballot, LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::replica::{Entry, MessageError, Role};
use alloc::vec::Vec;

impl MultiPaxos {
    /// Phase 1b for every slot above the candidate's commit index.
    pub(super) fn handle_prepare(&mut self, from: NodeId, ballot: Ballot, p: Prepare) {
        let promised = self.promised;
        if ballot < promised {
            // PMS §2.2 P1a: never promise below a promise.
            self.send(from, ballot, Body::Nack(Nack { promised, reason: NackReason::Stale }));
            return;
        }
        // The leader we follow asked this candidate to take over and gave
        // up its lease when it did: our lease protects nobody else.
        let handed_over = p.transfer == Some(promised);
        if ballot > promised && !handed_over && self.in_lease(from) {
            self.send(from, ballot, Body::Nack(Nack { promised, reason: NackReason::LeaderAlive }));
            return;
        }
        if self.is_behind(p.commit) {
            self.send(from, ballot, Body::Nack(Nack { promised, reason: NackReason::Behind }));
            return;
        }
        if ballot > promised {
            self.adopt(ballot, None);
        }
        // Holes are left out: nothing was accepted there.
        let entries: Vec<Entry> =
            self.log.range(p.commit.next(), self.log.last_index()).filter(|e| !is_hole(e)).cloned().collect();
        let body = Body::Promise(Promise { commit: self.log.commit, entries });
        self.reply_after_writes(from, ballot, body);
    }

    /// True while a live leader is known: the acceptor will not help
    /// anyone else get elected. This is what makes leader leases safe
    /// (PML §5.2), and it keeps a node that merely lost touch from
    /// deposing a healthy leader.
    pub(super) fn in_lease(&self, candidate: NodeId) -> bool {
        if self.now < self.quiet_until {
            return true;
        }
        match self.role {
            Role::Leader => true,
            _ => {
                self.leader.is_some_and(|l| l != candidate)
                    && self.last_leader_contact.is_some_and(|t| self.now < t + self.cfg.election_timeout)
            }
        }
    }

    /// A candidate whose commit index is below what we hold in memory
    /// (our snapshot, or the trimmed tail) cannot be told the slots it must
    /// re-propose; one too far behind would need a
    /// promise past `max_promise_bytes`. Either must let another lead.
    fn is_behind(&self, commit: LogIndex) -> bool {
        // Slots no longer held in memory (compacted, or trimmed to
        // storage) are chosen, and are not read back for a promise.
        if commit.next() < self.log.held_from() {
            return true;
        }
        let mut bytes = 0usize;
        for e in self.log.range(commit.next(), self.log.commit) {
            bytes = bytes.saturating_add(e.size());
            if bytes > self.cfg.max_promise_bytes {
                return true;
            }
        }
        false
    }

    /// Promises `ballot` (if higher) and follows `leader` in it, leaving
    /// any campaign or leadership of our own.
    pub(super) fn adopt(&mut self, ballot: Ballot, leader: Option<NodeId>) {
        if ballot > self.promised {
            self.promised = ballot;
        }
        if self.role == Role::Leader {
            self.leave_leadership();
        }
        self.campaign = None;
        self.role = self.follower_role();
        self.leader = leader;
        self.reset_prefix();
        self.reset_election_deadline();
        self.emit_role();
    }

    /// The common rules for a leader's requests: refuse a stale ballot,
    /// adopt a higher one, and note that the leader is alive. Returns
    /// false if the request is to be dropped.
    pub(super) fn follow(&mut self, from: NodeId, ballot: Ballot) -> bool {
        let promised = self.promised;
        if ballot < promised {
            // Tell a deposed leader, so it steps down (PMMC: preempted).
            self.send(from, ballot, Body::Nack(Nack { promised, reason: NackReason::Stale }));
            return false;
        }
        if ballot > promised || self.role != self.follower_role() || self.leader != Some(from) {
            self.adopt(ballot, Some(from));
        } else {
            self.reset_election_deadline();
        }
        self.last_leader_contact = Some(self.now);
        self.incoming.take_if(|inc| inc.leader != from);
        true
    }

    /// Phase 2b for a batch of slots.
    pub(super) fn handle_accept(&mut self, from: NodeId, ballot: Ballot, a: Accept) -> Result<(), MessageError> {
        if !self.follow(from, ballot) {
            return Ok(());
        }
        let Accept { entries, commit } = a;
        // Slots far past our log are not filled with holes: the leader
        // learns where we stand from the answer and sends from there.
        let reach = self.log.last_index().plus(self.max_gap());
        if entries.first().is_some_and(|e| e.index <= reach) {
            for e in entries {
                // Chosen slots keep their value (the leader's is the same).
                if e.index > self.log.commit {
                    self.log.set(e);
                }
            }
        }
        self.extend_prefix();
        self.advance_commit(commit);
        let body = Body::Accepted(Accepted { match_index: self.prefix });
        self.reply_after_writes(from, ballot, body);
        Ok(())
    }

    fn max_gap(&self) -> u64 {
        (self.cfg.max_batch_entries as u64).saturating_mul(self.cfg.max_inflight_batches as u64).min(1 << 16)
    }

    pub(super) fn handle_heartbeat(&mut self, from: NodeId, ballot: Ballot, hb: Heartbeat) {
        if !self.follow(from, ballot) {
            return;
        }
        self.advance_commit(hb.commit);
        // Only what is durable may be claimed without waiting for writes.
        let match_index = self.prefix.min(self.log.persisted);
        let body = Body::HeartbeatResponse(HeartbeatResponse { read_round: hb.read_round, match_index });
        self.reply_after_promise(from, ballot, body);
    }

    /// Learns that every slot up to `commit` is chosen, from the leader of
    /// the promised ballot: a slot holding a value of that ballot holds the
    /// leader's value, and the leader commits only its own values.
    pub(super) fn advance_commit(&mut self, commit: LogIndex) {
        let b = ballot_term(self.promised);
        let to = commit.min(self.log.last_index());
        let mut i = self.log.commit;
        while i < to && self.log.term(i.next()) == Some(b) {
            i = i.next();
        }
        let from = self.log.commit;
        if i > from {
            self.log.commit = i;
            self.prefix = self.prefix.max(i);
            self.learn_configs(from);
        }
    }

    /// Extends `prefix` over slots holding values of the promised ballot.
    pub(super) fn extend_prefix(&mut self) {
        let b = ballot_term(self.promised);
        let mut p = self.prefix.max(self.log.commit);
        while self.log.term(p.next()) == Some(b) {
            p = p.next();
        }
        self.prefix = p;
    }

    /// Recomputes `prefix` after the promise changed.
    pub(super) fn reset_prefix(&mut self) {
        self.prefix = self.log.commit;
        self.extend_prefix();
    }
}
