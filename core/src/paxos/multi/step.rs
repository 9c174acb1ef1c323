//! Dispatch of incoming messages, after checks that keep a malformed or
//! hostile message from changing any state.

use super::MultiPaxos;
use super::membership::check_configs;
use super::message::{Body, Message, NackReason};
use crate::id::{Ballot, NodeId};
use crate::paxos::{ballot_term, packable};
use crate::replica::{self, MessageError, Role};

impl MultiPaxos {
    pub(super) fn step(&mut self, from: NodeId, msg: Message) -> Result<(), MessageError> {
        if from == self.id {
            return Err(MessageError::FromSelf);
        }
        // Any authenticated peer may speak: a member of a configuration
        // this node has not learned yet (or a joining node's first leader)
        // must be heard, as in Raft.
        validate(from, &msg)?;
        replica::check_term_jump(self.highest_seen.round, msg.ballot.round)?;
        self.highest_seen = self.highest_seen.max(msg.ballot);
        let ballot = msg.ballot;
        let leading = self.role == Role::Leader && ballot == self.promised;
        match msg.body {
            Body::Prepare(p) => self.handle_prepare(from, ballot, p),
            Body::Promise(p) => return self.handle_promise(from, ballot, p.entries),
            Body::Nack(n) => self.handle_nack(from, ballot, n),
            Body::Accept(a) => return self.handle_accept(from, ballot, a),
            Body::Heartbeat(h) => self.handle_heartbeat(from, ballot, h),
            Body::Snapshot(c) => return self.handle_snapshot_chunk(from, ballot, c),
            Body::Accepted(a) if leading => return self.handle_accepted(from, a.match_index, None),
            Body::HeartbeatResponse(r) if leading => {
                return self.handle_accepted(from, r.match_index, Some(r.read_round));
            }
            Body::SnapshotResponse(r) if leading => self.handle_snapshot_response(from, r),
            Body::TimeoutNow => self.handle_timeout_now(from, ballot),
            // Answers to a leadership we no longer hold (or never held).
            Body::Accepted(_) | Body::HeartbeatResponse(_) | Body::SnapshotResponse(_) => {}
        }
        Ok(())
    }
}

/// Structural checks a correct peer always passes.
fn validate(from: NodeId, msg: &Message) -> Result<(), MessageError> {
    let b = msg.ballot;
    if !packable(b) {
        return Err(MessageError::Malformed("ballot cannot be packed"));
    }
    let own = |b: Ballot| {
        if b.node != from || b.round == 0 { Err(MessageError::Malformed("ballot of another node")) } else { Ok(()) }
    };
    match &msg.body {
        Body::Prepare(p) => {
            own(b)?;
            // A transfer names the ballot of the leader that asked, which
            // the candidate's ballot goes above.
            if p.transfer.is_some_and(|t| !packable(t) || t >= b) {
                return Err(MessageError::Malformed("transfer ballot not below the candidate's"));
            }
        }
        Body::Heartbeat(_) | Body::TimeoutNow => own(b)?,
        Body::Accept(a) => {
            own(b)?;
            check_configs(&a.entries)?;
            let term = ballot_term(b);
            let mut expected = a.entries.first().map(|e| e.index);
            for e in &a.entries {
                if Some(e.index) != expected || e.index.0 == 0 {
                    return Err(MessageError::Malformed("accepted slots not consecutive"));
                }
                if e.term != term {
                    return Err(MessageError::Malformed("accept entry in another ballot"));
                }
                expected = e.index.0.checked_add(1).map(crate::id::LogIndex);
            }
        }
        Body::Promise(p) => {
            check_configs(&p.entries)?;
            let mut last = 0;
            for e in &p.entries {
                if e.index.0 <= last {
                    return Err(MessageError::Malformed("promised slots not ascending"));
                }
                if e.term.0 == 0 || e.term > ballot_term(b) {
                    return Err(MessageError::Malformed("promise reports a ballot above the promise"));
                }
                last = e.index.0;
            }
        }
        Body::Nack(n) => {
            if !packable(n.promised) || (n.reason == NackReason::Stale && n.promised <= b) {
                return Err(MessageError::Malformed("stale nack without a higher ballot"));
            }
        }
        Body::Snapshot(c) => {
            own(b)?;
            if c.meta.term > ballot_term(b) {
                return Err(MessageError::Malformed("snapshot ballot above the leader's"));
            }
            if c.meta.membership.is_empty() {
                return Err(MessageError::Malformed("snapshot without a configuration"));
            }
            if c.meta.membership.members().any(|id| id.0 >= crate::paxos::MAX_NODES) {
                return Err(MessageError::Malformed("configuration names a node id above 65,535"));
            }
        }
        Body::Accepted(_) | Body::HeartbeatResponse(_) | Body::SnapshotResponse(_) => {}
    }
    Ok(())
}
