//! Dispatch of incoming messages, after checks that keep a malformed or
//! hostile message from changing any state.

use super::Raft;
use super::message::{Body, Message};
use crate::id::NodeId;
use crate::replica::{self, EntryKind, Membership, MessageError, Role};

impl Raft {
    pub(super) fn step(&mut self, from: NodeId, msg: Message) -> Result<(), MessageError> {
        if from == self.id {
            return Err(MessageError::FromSelf);
        }
        validate(&msg)?;
        replica::check_term_jump(self.term.0, msg.term.0)?;
        if !self.check_term(from, &msg) {
            return Ok(());
        }
        let term = msg.term;
        let leader = self.role == Role::Leader;
        match msg.body {
            Body::Vote(v) => self.handle_vote(from, term, v),
            Body::VoteResponse(r) => return self.handle_vote_response(from, term, r),
            Body::Append(a) => return self.handle_append(from, a),
            Body::AppendResponse(r) if leader => return self.handle_append_response(from, r),
            Body::Heartbeat(h) => return self.handle_heartbeat(from, h),
            Body::HeartbeatResponse(r) if leader => self.handle_heartbeat_response(from, r),
            Body::Snapshot(c) => return self.handle_snapshot_chunk(from, c),
            Body::SnapshotResponse(r) if leader => self.handle_snapshot_response(from, r),
            Body::TimeoutNow => return self.handle_timeout_now(from),
            // Answers to a leadership we no longer hold.
            Body::AppendResponse(_) | Body::HeartbeatResponse(_) | Body::SnapshotResponse(_) => {}
        }
        Ok(())
    }
}

/// Structural checks a correct peer always passes.
fn validate(msg: &Message) -> Result<(), MessageError> {
    // Terms saturate instead of wrapping: a node at the last term could no
    // longer start a newer one, and a second campaign there would reuse a
    // term it already voted in. No honest cluster gets there.
    if msg.term == crate::id::Term(u64::MAX) {
        return Err(MessageError::Malformed("term space exhausted"));
    }
    match &msg.body {
        Body::Append(a) => {
            if a.prev_term > msg.term {
                return Err(MessageError::Malformed("append prev_term above the leader's term"));
            }
            let mut expected = a.prev_index.next();
            let mut term = a.prev_term;
            for e in &a.entries {
                if e.index != expected {
                    return Err(MessageError::Malformed("append entries not contiguous"));
                }
                if e.term < term || e.term > msg.term {
                    return Err(MessageError::Malformed("append entry terms out of order"));
                }
                if e.kind == EntryKind::Membership && Membership::decode_exact(&e.data).is_err() {
                    return Err(MessageError::Malformed("undecodable membership entry"));
                }
                term = e.term;
                expected = expected.next();
            }
            if a.prev_index.0.checked_add(a.entries.len() as u64).is_none() {
                return Err(MessageError::Malformed("append index overflow"));
            }
        }
        Body::Snapshot(c) => {
            if c.meta.term > msg.term {
                return Err(MessageError::Malformed("snapshot term above the leader's term"));
            }
            if c.meta.membership.is_empty() {
                return Err(MessageError::Malformed("snapshot without a configuration"));
            }
        }
        _ => {}
    }
    Ok(())
}
