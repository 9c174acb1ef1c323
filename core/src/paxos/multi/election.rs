//! Leader election by ballots: randomized timeouts, phase 1 for every open
//! slot, and recovery of what earlier leaders left (PMS §3; PMMC §3 "the
//! leader's scouts"; PML §3).

use super::log::is_hole;
use super::membership::decode_config;
use super::message::{Body, Nack, NackReason, Prepare};
use super::{Campaign, MultiPaxos};
use crate::id::{Ballot, LogIndex, NodeId};
use crate::paxos::{ballot_term, packable};
use crate::replica::{Entry, EntryKind, Membership, MessageError, ReadError, Role, VoteResult};
use crate::time::Instant;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

impl MultiPaxos {
    pub(super) fn follower_role(&self) -> Role {
        if self.membership.is_voter(self.id) { Role::Follower } else { Role::Learner }
    }

    /// Randomized, so that candidates rarely duel (PMS §3: progress needs
    /// one distinguished proposer).
    pub(super) fn reset_election_deadline(&mut self) {
        let et = self.cfg.election_timeout;
        self.election_deadline = self.now + self.rng.duration(et, et * 2);
    }

    /// Election timer (followers and candidates).
    pub(super) fn tick_election(&mut self) {
        if self.now < self.election_deadline {
            return;
        }
        if !self.membership.is_voter(self.id) {
            self.reset_election_deadline();
            return;
        }
        self.campaign(None);
    }

    /// Phase 1a with the smallest ballot of ours above every ballot seen,
    /// for every slot above our commit index. Our own acceptor promises
    /// first; prepares leave once that promise is durable, so a restart
    /// can never reuse the ballot (PMS §2.5). `transfer` is the ballot of
    /// the leader that asked us to take over, if one did.
    pub(super) fn campaign(&mut self, transfer: Option<Ballot>) {
        let ballot = Ballot::above(self.promised.max(self.highest_seen), self.id);
        if !packable(ballot) {
            self.reset_election_deadline();
            return;
        }
        if self.role == Role::Leader {
            self.leave_leadership();
        }
        self.promised = ballot;
        self.highest_seen = ballot;
        self.role = Role::Candidate;
        self.leader = None;
        let asked = alloc::vec![self.id];
        self.campaign = Some(Campaign { ballot, transfer, answers: alloc::vec![(self.id, true, Vec::new())], asked });
        self.reset_prefix();
        self.reset_election_deadline();
        self.emit_role();
        self.count_promises();
    }

    /// The configurations phase 1 must reach a quorum of (membership
    /// module): the chosen one, and those among the values recovered so
    /// far.
    fn needed_configs(&self, c: &Campaign) -> Vec<Membership> {
        let start = self.log.commit.next();
        let own = self.log.range(start, self.log.last_index());
        let any_config =
            own.chain(c.answers.iter().flat_map(|(_, _, es)| es.iter())).any(|e| e.kind == EntryKind::Membership);
        if !any_config {
            return alloc::vec![self.membership.clone()];
        }
        let best = self.recovered_values(c);
        self.campaign_configs(best.values().copied())
    }

    /// Counts the answers: wins, gives up, or asks the voters of any
    /// configuration discovered since the last count.
    fn count_promises(&mut self) {
        let Some(c) = &self.campaign else { return };
        let configs = self.needed_configs(c);
        let vote = |id| c.answers.iter().find(|(a, _, _)| *a == id).map(|(_, ok, _)| *ok);
        let results: Vec<VoteResult> = configs.iter().map(|m| m.vote_result(vote)).collect();
        if results.iter().all(|r| *r == VoteResult::Won) {
            self.become_leader();
            return;
        }
        if results.contains(&VoteResult::Lost) {
            self.step_down();
            return;
        }
        let (ballot, transfer, commit) = (c.ballot, c.transfer, self.log.commit);
        let mut new: Vec<NodeId> = Vec::new();
        for m in &configs {
            for id in m.voters().iter().chain(m.outgoing()) {
                if !c.asked.contains(id) && !new.contains(id) {
                    new.push(*id);
                }
            }
        }
        if let Some(c) = self.campaign.as_mut() {
            c.asked.extend_from_slice(&new);
        }
        for id in new {
            self.reply_after_promise(id, ballot, Body::Prepare(Prepare { commit, transfer }));
        }
    }

    pub(super) fn handle_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        entries: Vec<Entry>,
    ) -> Result<(), MessageError> {
        let Some(c) = self.campaign.as_mut() else { return Ok(()) };
        if self.role != Role::Candidate || c.ballot != ballot || c.answers.iter().any(|(a, _, _)| *a == from) {
            return Ok(());
        }
        c.answers.push((from, true, entries));
        self.count_promises();
        Ok(())
    }

    pub(super) fn handle_nack(&mut self, from: NodeId, ballot: Ballot, n: Nack) {
        self.highest_seen = self.highest_seen.max(n.promised);
        if ballot != self.promised {
            return;
        }
        match (self.role, n.reason) {
            // Pre-empted as leader: run phase 1 again at once, above the
            // ballot that pre-empted us (PMMC §3: a pre-empted leader
            // starts a new scout). Acceptors that follow us promise at
            // once; if another node really leads, its followers refuse
            // and we step down.
            (Role::Leader, NackReason::Stale) => self.campaign(None),
            // Pre-empted as candidate (PTP §2.2): wait a randomized time.
            (Role::Candidate, NackReason::Stale) => self.step_down(),
            (Role::Candidate, _) => {
                if let Some(c) = self.campaign.as_mut()
                    && !c.answers.iter().any(|(a, _, _)| *a == from)
                {
                    c.answers.push((from, false, Vec::new()));
                }
                self.count_promises();
            }
            _ => {}
        }
    }

    /// Gives up a campaign or leadership and waits for a leader.
    pub(super) fn step_down(&mut self) {
        if self.role == Role::Leader {
            self.leave_leadership();
        }
        self.campaign = None;
        self.role = self.follower_role();
        self.leader = None;
        self.reset_election_deadline();
        self.emit_role();
    }

    pub(super) fn leave_leadership(&mut self) {
        self.peers.clear();
        self.transfer = None;
        self.uncommitted_bytes = 0;
        self.commit_unsent = false;
        self.heartbeat_deadline = Instant::MAX;
        self.quorum_check_deadline = Instant::MAX;
        self.reads.fail_all(ReadError::LeadershipLost, &mut self.outbox.reads);
    }

    /// Phase 1 is complete. For every slot above our commit index, propose
    /// the value of the highest ballot any promiser accepted there (PMS
    /// §2.2 P2c), a no-op where none did (PMS §3: gaps are filled with
    /// no-ops so later commands can be executed), all in our own ballot.
    /// For every slot above our commit index, the value of the highest
    /// ballot among our own log and the promises (PMS §2.2 P2c).
    fn recovered_values<'a>(&'a self, c: &'a Campaign) -> BTreeMap<u64, &'a Entry> {
        let start = self.log.commit.next();
        let mut best: BTreeMap<u64, &Entry> = BTreeMap::new();
        let own = self.log.range(start, self.log.last_index()).filter(|e| !is_hole(e));
        let reported = c.answers.iter().filter(|(_, ok, _)| *ok).flat_map(|(_, _, entries)| entries.iter());
        for e in own.chain(reported).filter(|e| e.index >= start) {
            match best.get(&e.index.0) {
                Some(b) if b.term >= e.term => {}
                _ => {
                    best.insert(e.index.0, e);
                }
            }
        }
        best
    }

    fn become_leader(&mut self) {
        let Some(c) = self.campaign.take() else { return };
        let start = self.log.commit.next();
        let mut best: BTreeMap<u64, Entry> =
            self.recovered_values(&c).into_iter().map(|(i, e)| (i, e.clone())).collect();
        drop(c);
        let end = best.last_key_value().map_or(self.log.commit, |(i, _)| LogIndex(*i));
        let term = ballot_term(self.promised);
        self.pending.clear();
        let mut i = start;
        while i <= end {
            let e = match best.remove(&i.0) {
                Some(e) => Entry { index: i, term, kind: e.kind, data: e.data },
                None => Entry::noop(i, term),
            };
            if e.kind == EntryKind::Membership
                && let Ok(m) = decode_config(&e)
            {
                self.pending.push((i, m));
            }
            self.log.set(e);
            i = i.next();
        }
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.recovery_end = end;
        self.prefix = self.log.last_index();
        self.uncommitted_bytes = 0;
        self.commit_unsent = false;
        self.reads.reset();
        self.peers.clear();
        self.sync_peers();
        self.heartbeat_deadline = self.now + self.cfg.heartbeat_interval;
        self.quorum_check_deadline = self.now + self.cfg.election_timeout;
        self.emit_role();
        // Announce the new leadership at once (and start a read round).
        self.broadcast_heartbeat();
        self.maybe_commit();
        if self.role == Role::Leader && self.pending.is_empty() {
            // Elected during a joint phase nobody finished: finish it.
            self.on_config_chosen();
        }
    }

    /// Leader timer: heartbeats and the quorum check.
    pub(super) fn tick_leader(&mut self) {
        if self.now >= self.heartbeat_deadline {
            self.heartbeat_deadline = self.now + self.cfg.heartbeat_interval;
            self.expire_log_reads();
            self.broadcast_heartbeat();
        }
        if self.now >= self.quorum_check_deadline {
            self.quorum_check_deadline = self.now + self.cfg.election_timeout;
            if !self.quorum_active() {
                // Cut off from a quorum: let clients go elsewhere (and
                // leases lapse) rather than linger (Raft thesis §6.2).
                self.step_down();
                return;
            }
        }
        if self.transfer.is_some_and(|(_, deadline)| self.now >= deadline) {
            self.transfer = None;
        }
    }

    fn quorum_active(&mut self) -> bool {
        let me = self.id;
        let peers = &self.peers;
        let ok = self.membership.has_quorum(|id| id == me || peers.iter().any(|p| p.id == id && p.recent_active));
        for p in &mut self.peers {
            p.recent_active = false;
        }
        ok
    }
}
