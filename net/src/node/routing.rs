//! Where a client request goes: admitted or refused here, handed to the
//! local replica, forwarded to the leader, or parked until one is known —
//! and what happens to a forwarded request when leadership moves.
//!
//! A request never waits out its deadline for a leader that is gone: when
//! the node learns of another leader (or of none, in a new term) or loses
//! the connection to the one it forwarded to, reads go again to the new
//! leader and writes are answered at once with
//! [`ClientError::LeaderChanged`], naming the new leader. A write is not
//! re-sent by the node: the old leader may already have appended it, and
//! only an exactly-once session could make a second copy harmless — so a
//! write the service marks [`resend_safe`](synod_core::service::Admitted)
//! (numbered in a client session, Raft thesis §6.3) is the exception: the
//! node that took it from its client sends it again to the new leader,
//! until it is answered or its deadline passes, and a second copy in the
//! log is answered from the session, never applied.

use super::machine::Machine;
use super::requests::{Proposed, ReadWant, Requester, Waiting};
use crate::client::{ClientError, ClientRequest, Refusal, RequestOp};
use crate::codec::Frame;
use bytes::Bytes;
use synod_core::id::NodeId;
use synod_core::replica::{MemberStep, ProposeError, ReadError, Role, TransferError};
use synod_core::service::Service;
use synod_core::time::Instant;

/// How far behind the commit index a learner may be and still be promoted.
const PROMOTE_LAG: u64 = 64;

impl<S: Service> Machine<S> {
    /// A new request: refuse if overloaded, refuse a command the service
    /// would refuse anyway (it never reaches the log), refuse one that
    /// grows the state while the disk is out of room; else route it.
    /// Forwarded requests are checked again by the leader.
    pub(super) fn submit(&mut self, op: RequestOp, requester: Requester, now: Instant) {
        if self.requests.len() >= self.cfg.max_in_flight {
            return requester.answer(&mut self.out, Err(ClientError::Busy));
        }
        let mut resend = false;
        if let RequestOp::Propose(command) = &op {
            match self.service.check(command) {
                Err(refusal) => return requester.answer(&mut self.out, Ok(refusal)),
                Ok(admitted) if admitted.grows && self.disk.alarm.is_some() => {
                    return requester.answer(&mut self.out, Err(ClientError::NoSpace));
                }
                // Only the node that took the request from its client sends
                // it again; a forwarded one is answered, and its sender
                // decides.
                Ok(admitted) => resend = admitted.resend_safe && !requester.is_remote(),
            }
        }
        let deadline = now + self.cfg.request_timeout;
        self.try_local(Waiting { op, requester, deadline, resend }, now);
    }

    /// Hands the request to the local replica; if it is not the leader,
    /// forwards it (once) or parks it.
    pub(super) fn try_local(&mut self, w: Waiting, now: Instant) {
        let Waiting { op, requester, deadline, resend } = w;
        let leader_hint = match op {
            RequestOp::Propose(command) => match self.replica.propose(now, command.clone()) {
                Ok(p) => {
                    let proposed = Proposed {
                        term: p.term,
                        command,
                        requester,
                        membership: false,
                        resend: resend.then_some(deadline),
                    };
                    self.requests.proposals.insert(p.index.0, proposed);
                    return;
                }
                Err(ProposeError::NotLeader { leader_hint }) => {
                    let w = Waiting { op: RequestOp::Propose(command), requester, deadline, resend };
                    return self.elsewhere(w, leader_hint);
                }
                Err(ProposeError::TransferInProgress) => {
                    let w = Waiting { op: RequestOp::Propose(command), requester, deadline, resend };
                    return self.elsewhere(w, None);
                }
                Err(e) => {
                    let err = match e {
                        ProposeError::Busy => ClientError::Busy,
                        ProposeError::ProposalTooLarge { .. } => ClientError::TooLarge,
                        _ => ClientError::Unavailable,
                    };
                    return requester.answer(&mut self.out, Err(err));
                }
            },
            RequestOp::Query(query) => {
                let id = self.requests.next_read_id();
                match self.replica.read(now, id) {
                    Ok(()) => {
                        self.requests.reads.insert(id, (ReadWant::Query(query), requester));
                        return;
                    }
                    Err(ReadError::NotLeader { leader_hint }) => (leader_hint, RequestOp::Query(query)),
                    Err(_) => return requester.answer(&mut self.out, Err(ClientError::Busy)),
                }
            }
            RequestOp::ReadIndex => {
                let id = self.requests.next_read_id();
                match self.replica.read(now, id) {
                    Ok(()) => {
                        self.requests.reads.insert(id, (ReadWant::Index, requester));
                        return;
                    }
                    Err(ReadError::NotLeader { leader_hint }) => (leader_hint, RequestOp::ReadIndex),
                    Err(_) => return requester.answer(&mut self.out, Err(ClientError::Busy)),
                }
            }
            RequestOp::Member(step) => return self.member_step(step, requester, deadline, now),
            RequestOp::Configuration => {
                let m = self.replica.status().membership;
                let answer = if m.is_empty() { Err(ClientError::Unavailable) } else { Ok(m.encode()) };
                return requester.answer(&mut self.out, answer);
            }
            RequestOp::TransferLeader(to) => match self.replica.transfer_leader(now, to) {
                Ok(()) | Err(TransferError::AlreadyLeader) => return requester.answer(&mut self.out, Ok(Bytes::new())),
                Err(TransferError::NotLeader { leader_hint }) => (leader_hint, RequestOp::TransferLeader(to)),
                Err(TransferError::NotVoter(id)) => {
                    return requester.answer(&mut self.out, Err(ClientError::Refused(Refusal::NotVoter(id))));
                }
                Err(_) => return requester.answer(&mut self.out, Err(ClientError::Refused(Refusal::Unsupported))),
            },
        };
        let (leader_hint, op) = leader_hint;
        self.elsewhere(Waiting { op, requester, deadline, resend }, leader_hint);
    }

    /// A membership step: planned here if this node leads, against the
    /// configuration in force here, else sent on to the leader.
    fn member_step(&mut self, step: MemberStep, requester: Requester, deadline: Instant, now: Instant) {
        let status = self.replica.status();
        if status.role != Role::Leader {
            let hint = status.leader.or(self.leader);
            return self.elsewhere(Waiting { op: RequestOp::Member(step), requester, deadline, resend: false }, hint);
        }
        if let MemberStep::Promote { id } | MemberStep::Replace { new: id, .. } = step
            && !self.caught_up(id, status.commit)
        {
            return requester.answer(&mut self.out, Err(ClientError::Refused(Refusal::NotCaughtUp(id))));
        }
        let change = match status.membership.plan(&step) {
            Ok(Some(change)) => change,
            // Already in force: repeating a step is harmless.
            Ok(None) => return requester.answer(&mut self.out, Ok(Bytes::new())),
            Err(e) => return requester.answer(&mut self.out, Err(ClientError::Refused(e.into()))),
        };
        let refusal = match self.replica.change_membership(now, change) {
            Ok(p) => {
                let proposed =
                    Proposed { term: p.term, command: Bytes::new(), requester, membership: true, resend: None };
                self.requests.proposals.insert(p.index.0, proposed);
                return;
            }
            Err(ProposeError::NotLeader { leader_hint }) => {
                let w = Waiting { op: RequestOp::Member(step), requester, deadline, resend: false };
                return self.elsewhere(w, leader_hint);
            }
            Err(ProposeError::MembershipChangePending | ProposeError::TransferInProgress) => Refusal::ChangePending,
            Err(ProposeError::Unsupported) => Refusal::Unsupported,
            Err(ProposeError::InvalidMembership) => Refusal::Invalid,
            Err(_) => return requester.answer(&mut self.out, Err(ClientError::Unavailable)),
        };
        requester.answer(&mut self.out, Err(ClientError::Refused(refusal)));
    }

    /// Whether learner `id` holds the log to within [`PROMOTE_LAG`] of
    /// `commit`: a voter far behind would count in every quorum while it
    /// cannot acknowledge anything new, so a cluster that then loses one
    /// more node stalls until it catches up (etcd refuses to promote a
    /// learner that is not ready for the same reason). Not a learner: the
    /// step's own planning answers.
    pub(super) fn caught_up(&self, id: NodeId, commit: synod_core::id::LogIndex) -> bool {
        let mut peers = Vec::new();
        self.replica.peer_status(&mut peers);
        match peers.iter().find(|p| p.id == id) {
            Some(p) if !p.voter => p.match_index.0.saturating_add(PROMOTE_LAG) >= commit.0,
            _ => true,
        }
    }

    /// The local replica cannot take the request: forward it to the
    /// leader, or park it until one is known.
    fn elsewhere(&mut self, w: Waiting, leader_hint: Option<NodeId>) {
        if w.requester.is_remote() {
            // Forwarded once already: never chain forwards (no loops).
            return w.requester.answer(&mut self.out, Err(ClientError::NotLeader { leader_hint }));
        }
        match leader_hint.filter(|l| *l != self.cfg.id) {
            Some(leader) => {
                let id = self.requests.next_forward_id();
                self.out.frames.push((leader, Frame::Request(ClientRequest { id, op: w.op.clone() })));
                self.requests.forwarded.insert(id, (leader, w));
            }
            None => self.requests.parked.push(w),
        }
    }

    /// Answers a request with `result` — unless `result` leaves a write
    /// maybe not applied, the write is safe to send again (`w.resend`) and
    /// its deadline has not passed: then it goes to the leader again. The
    /// one place the resend rule lives, for every way a write can be left
    /// unanswered (a forward lost, a leader's refusal, our own slot lost).
    pub(super) fn resend_or_answer(&mut self, w: Waiting, result: Result<Bytes, ClientError>) {
        let unsettled =
            matches!(result, Err(ClientError::LeaderChanged { .. } | ClientError::Lost | ClientError::Timeout));
        if unsettled && w.resend && w.deadline > self.now {
            return self.route(w, self.now);
        }
        w.requester.answer(&mut self.out, result);
    }

    /// The leader this node knows changed (or became unknown): requests
    /// forwarded to any other node will not be answered in time.
    pub(super) fn leadership_changed(&mut self) {
        let leader = self.leader;
        self.redirect(|to| Some(to) != leader);
    }

    /// The connection to `peer` was lost, or a frame to it could not be
    /// sent: what was forwarded to it will not be answered.
    pub fn handle_unreachable(&mut self, now: Instant, peer: NodeId) {
        self.now = now;
        self.redirect(|to| to == peer);
    }

    /// Takes back every request forwarded to a node `gone` says will not
    /// answer: reads go again, writes are answered `LeaderChanged` (they
    /// may have been appended there). Parked requests go to a leader now
    /// known.
    fn redirect(&mut self, gone: impl Fn(NodeId) -> bool) {
        let now = self.now;
        let ids: Vec<u64> =
            self.requests.forwarded.iter().filter(|(_, (to, _))| gone(*to)).map(|(id, _)| *id).collect();
        for id in ids {
            let Some((_, w)) = self.requests.forwarded.remove(&id) else { continue };
            match w.op {
                RequestOp::Query(_) | RequestOp::ReadIndex | RequestOp::Configuration => self.route(w, now),
                // Writes, membership steps and transfers alike: the node
                // gone may have acted on them.
                RequestOp::Propose(_) | RequestOp::Member(_) | RequestOp::TransferLeader(_) => {
                    // Never name the node that will not answer.
                    let leader_hint = self.leader.filter(|l| *l != self.cfg.id && !gone(*l));
                    self.resend_or_answer(w, Err(ClientError::LeaderChanged { leader_hint }));
                }
            }
        }
        if self.leader.is_some() && !self.requests.parked.is_empty() {
            for w in core::mem::take(&mut self.requests.parked) {
                self.route(w, now);
            }
        }
    }
}
