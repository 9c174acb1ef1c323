//! Roles, terms and elections: randomized timeouts (Raft §5.2), the
//! up-to-date vote rule (§5.4.1), pre-vote (thesis §9.6) and check-quorum
//! (thesis §6.2).

use super::Raft;
use super::message::{Body, Message, VoteRequest, VoteResponse};
use crate::id::{NodeId, Term};
use crate::replica::{MessageError, ReadError, Role, VoteResult};
use core::cmp::Ordering;

impl Raft {
    pub(super) fn follower_role(&self) -> Role {
        if self.membership().is_voter(self.id) { Role::Follower } else { Role::Learner }
    }

    pub(super) fn reset_election_deadline(&mut self) {
        let et = self.cfg.election_timeout;
        self.election_deadline = self.now + self.rng.duration(et, et * 2);
    }

    /// Follows `leader` (if known) in `term`, leaving any leadership.
    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        let was_leader = self.role == Role::Leader;
        if was_leader {
            self.leave_leadership();
        }
        self.role = self.follower_role();
        self.leader = leader;
        self.votes.clear();
        // Raft Figure 2: the election timer restarts on hearing from a
        // leader or granting a vote (handle_vote), not on merely seeing a
        // higher term. Restarting it for every candidate's request let
        // candidates with short logs, one after another, keep the only
        // node whose log could win from ever timing out (found by the
        // simulator's membership campaign, seed 9032). A deposed leader
        // restarts it, so it does not campaign the instant it steps down.
        if leader.is_some() || was_leader {
            self.reset_election_deadline();
        }
        self.emit_role();
    }

    fn leave_leadership(&mut self) {
        self.peers.clear();
        self.transfer = None;
        self.uncommitted_bytes = 0;
        self.heartbeat_deadline = crate::time::Instant::MAX;
        self.quorum_check_deadline = crate::time::Instant::MAX;
        self.reads.fail_all(ReadError::LeadershipLost, &mut self.outbox.reads);
    }

    /// Election timer (followers and candidates).
    pub(super) fn tick_election(&mut self) {
        if self.now < self.election_deadline {
            return;
        }
        if self.role == Role::Learner || !self.membership().is_voter(self.id) {
            self.reset_election_deadline();
            return;
        }
        if self.cfg.pre_vote {
            self.pre_campaign();
        } else {
            self.campaign(false);
        }
    }

    /// Asks whether an election could be won, without raising any term
    /// (thesis §9.6): a node cut off from the cluster cannot disrupt it.
    fn pre_campaign(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.votes.push((self.id, true));
        self.reset_election_deadline();
        self.emit_role();
        if self.tally() == VoteResult::Won {
            self.campaign(false);
            return;
        }
        let req = VoteRequest {
            pre_vote: true,
            transfer: false,
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        let next = self.term.next();
        for id in self.voters_but_me() {
            // A pre-vote changes no state, so it need not wait for a write.
            let msg = crate::replica::Message::Raft(Message { term: next, body: Body::Vote(req) });
            self.durability.send_now(crate::replica::Envelope { to: id, msg });
        }
    }

    /// Starts an election in the next term (Raft §5.2). `transfer` marks
    /// one asked for by the leader (thesis §3.10).
    pub(super) fn campaign(&mut self, transfer: bool) {
        if self.term.next() == self.term {
            // The term space is exhausted (see step.rs): campaigning would
            // reuse a term this node may have voted in.
            return;
        }
        self.term = self.term.next();
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.votes.push((self.id, true));
        self.reset_election_deadline();
        self.emit_role();
        if self.tally() == VoteResult::Won {
            self.become_leader();
            return;
        }
        let req = VoteRequest {
            pre_vote: false,
            transfer,
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        for id in self.voters_but_me() {
            // The request waits for our own vote to be durable, so no
            // answer can be counted before it (one vote per term, §5.2).
            self.reply_after_term(id, Body::Vote(req));
        }
    }

    fn voters_but_me(&self) -> alloc::vec::Vec<NodeId> {
        let m = self.membership();
        let mut ids: alloc::vec::Vec<NodeId> = m.voters().iter().chain(m.outgoing()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| *id != self.id);
        ids
    }

    fn tally(&self) -> VoteResult {
        self.membership().vote_result(|id| self.votes.iter().find(|(v, _)| *v == id).map(|(_, g)| *g))
    }

    /// True while this node believes a leader is live: it then refuses to
    /// help anyone else get elected (thesis §4.2.3, §6.2 with check-quorum).
    pub(super) fn in_lease(&self) -> bool {
        if !self.cfg.check_quorum {
            return false;
        }
        match self.role {
            Role::Leader => true,
            _ => {
                self.leader.is_some()
                    && self.last_leader_contact.is_some_and(|t| self.now < t + self.cfg.election_timeout)
            }
        }
    }

    /// Applies the term rules common to every message (Raft Figure 2);
    /// returns false if the message is to be dropped.
    pub(super) fn check_term(&mut self, from: NodeId, msg: &Message) -> bool {
        match msg.term.cmp(&self.term) {
            Ordering::Equal => true,
            Ordering::Greater => match &msg.body {
                Body::Vote(v) if v.pre_vote => true,
                // A granted pre-vote names the term we would campaign in.
                Body::VoteResponse(r) if r.pre_vote && r.granted => true,
                Body::Vote(v) => {
                    if self.in_lease() && !v.transfer {
                        // Ignore a disruptive candidate while our leader is live.
                        return false;
                    }
                    self.become_follower(msg.term, None);
                    true
                }
                Body::Append(_) | Body::Heartbeat(_) | Body::Snapshot(_) | Body::TimeoutNow => {
                    self.become_follower(msg.term, Some(from));
                    true
                }
                _ => {
                    self.become_follower(msg.term, None);
                    true
                }
            },
            Ordering::Less => {
                match &msg.body {
                    // Tell a stale leader about the newer term so it steps
                    // down (its check-quorum would also catch it, later).
                    Body::Append(a) => {
                        let rejected = a.prev_index;
                        self.reply_after_term(
                            from,
                            Body::AppendResponse(super::message::AppendResponse::Rejected {
                                rejected,
                                hint_index: crate::id::LogIndex(0),
                                hint_term: Term(0),
                            }),
                        );
                    }
                    Body::Heartbeat(_) | Body::Snapshot(_) => {
                        self.reply_after_term(
                            from,
                            Body::HeartbeatResponse(super::message::HeartbeatResponse { read_round: 0 }),
                        );
                    }
                    Body::Vote(v) => {
                        // A stale (pre-)candidate learns our term and stops.
                        let body = Body::VoteResponse(VoteResponse { pre_vote: v.pre_vote, granted: false });
                        self.reply_after_term(from, body);
                    }
                    _ => {}
                }
                false
            }
        }
    }

    pub(super) fn handle_vote(&mut self, from: NodeId, term: Term, req: VoteRequest) {
        let m = self.membership();
        // Raft §5.2: one vote per term; thesis §9.6: a pre-vote is granted
        // for a higher term without changing ours.
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (req.pre_vote && term > self.term);
        // Thesis §9.6 / §4.2.3: refuse while a live leader is known.
        let lease_ok = req.transfer || !req.pre_vote || !self.in_lease();
        let up_to_date = self.log.is_up_to_date(req.last_index, req.last_term); // §5.4.1
        // Thesis §4.1: a vote does not depend on whether the candidate is in
        // our latest configuration. A voter just added may not have heard
        // of its own promotion (or of anything: an empty configuration),
        // and refusing every candidate its configuration does not name
        // could leave a quorum of the new configuration unable to elect
        // (found by the simulator's membership campaign). Safety rests on
        // the up-to-date check; removed servers are kept from disrupting
        // by the lease above (§4.2.3).
        let voter = m.is_voter(from);
        let granted = can_vote && lease_ok && up_to_date;
        if req.pre_vote {
            let reply_term = if granted { term } else { self.term };
            let msg = Message { term: reply_term, body: Body::VoteResponse(VoteResponse { pre_vote: true, granted }) };
            self.durability.send_now(crate::replica::Envelope { to: from, msg: crate::replica::Message::Raft(msg) });
            // Refused only for its stale log, by a follower that has not
            // heard a leader for an election timeout either: the one who
            // asked cannot win without a log like ours (§5.4.1), so left to
            // its own timer the cluster would wait for a node with such a
            // log to time out — up to another election timeout. Asking now
            // is what our timer would do soon anyway, and a pre-vote round
            // (§9.6) raises no term, so it can disrupt nobody.
            if !up_to_date && can_vote && lease_ok && voter && self.role == Role::Follower && self.cfg.pre_vote {
                self.pre_campaign();
            }
            return;
        }
        if granted {
            self.vote = Some(from);
            self.reset_election_deadline();
        }
        // The grant waits for the vote to be durable.
        self.reply_after_term(from, Body::VoteResponse(VoteResponse { pre_vote: false, granted }));
    }

    pub(super) fn handle_vote_response(
        &mut self,
        from: NodeId,
        term: Term,
        resp: VoteResponse,
    ) -> Result<(), MessageError> {
        let counting = match self.role {
            Role::PreCandidate => resp.pre_vote && term == self.term.next(),
            Role::Candidate => !resp.pre_vote && term == self.term,
            _ => false,
        };
        if !counting {
            // A rejected pre-vote carries the voter's term, maybe higher.
            if resp.pre_vote && !resp.granted && term > self.term {
                self.become_follower(term, None);
            }
            return Ok(());
        }
        if !self.votes.iter().any(|(v, _)| *v == from) {
            self.votes.push((from, resp.granted));
        }
        match (self.tally(), self.role) {
            (VoteResult::Won, Role::PreCandidate) => self.campaign(false),
            (VoteResult::Won, _) => self.become_leader(),
            (VoteResult::Lost, _) => {
                let term = self.term;
                self.become_follower(term, None);
            }
            (VoteResult::Pending, _) => {}
        }
        Ok(())
    }

    /// Leader timer: heartbeats, check-quorum, transfer deadline.
    pub(super) fn tick_leader(&mut self) {
        if self.now >= self.heartbeat_deadline {
            self.heartbeat_deadline = self.now + self.cfg.heartbeat_interval;
            self.expire_log_reads();
            self.broadcast_heartbeat();
        }
        if self.now >= self.quorum_check_deadline {
            self.quorum_check_deadline = self.now + self.cfg.election_timeout;
            if self.cfg.check_quorum && !self.quorum_active() {
                // Thesis §6.2: a leader cut off from a quorum steps down, so
                // clients go elsewhere and leases stay sound.
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
        }
        if let Some((_, deadline)) = self.transfer
            && self.now >= deadline
        {
            self.transfer = None;
        }
    }

    fn quorum_active(&mut self) -> bool {
        let me = self.id;
        let peers = &self.peers;
        let ok = self.membership().has_quorum(|id| id == me || peers.iter().any(|p| p.id == id && p.recent_active));
        for p in &mut self.peers {
            p.recent_active = false;
        }
        ok
    }
}
