//! Linearizable reads without writing to the log: ReadIndex (thesis §6.4)
//! and leader leases (thesis §6.4.1).
//!
//! ReadIndex: the leader notes its commit index, confirms with a quorum
//! that it was still leader *after* the read arrived (a heartbeat round),
//! and releases the read at that index. Every write acknowledged before
//! the read began is at or below it, and no newer leader can have
//! committed anything before the round (its voters would have left our
//! term first), so the read is linearizable.
//!
//! Lease: followers refuse to help elect anyone for an election timeout
//! after hearing from the leader (check-quorum), so once a quorum confirmed
//! a round sent at `t`, no other leader exists before `t + election
//! timeout` by the slowest clock; less the drift bound, the leader may
//! answer reads until then without a round.

use super::Raft;
use crate::id::LogIndex;
use crate::replica::{ReadError, ReadId, ReadState, Role};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Rounds kept for lease bookkeeping; older unconfirmed rounds are
/// superseded by newer ones anyway.
const MAX_ROUNDS: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Reads {
    /// The latest round started in this leadership.
    round: u64,
    /// The latest round a quorum confirmed.
    confirmed: u64,
    /// Unconfirmed rounds: (round, sent at, commit index then).
    rounds: VecDeque<(u64, Instant, LogIndex)>,
    /// Send time of the latest confirmed round.
    lease_start: Option<Instant>,
    /// Reads that need a round started after they arrived.
    waiting: Vec<ReadId>,
    /// Reads attached to a round: (id, round, read index).
    pending: VecDeque<(ReadId, u64, LogIndex)>,
}

impl Reads {
    pub fn reset(&mut self) {
        *self = Reads { waiting: core::mem::take(&mut self.waiting), ..Reads::default() };
    }

    pub fn len(&self) -> usize {
        self.waiting.len() + self.pending.len()
    }

    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    pub fn fail_all(&mut self, err: ReadError, out: &mut Vec<ReadState>) {
        out.extend(self.waiting.drain(..).map(|id| ReadState { id, result: Err(err) }));
        out.extend(self.pending.drain(..).map(|(id, ..)| ReadState { id, result: Err(err) }));
        self.rounds.clear();
        self.lease_start = None;
    }

    /// Starts a round at `now`; waiting reads join it if `take_waiting`.
    pub fn start_round(&mut self, now: Instant, commit: LogIndex, take_waiting: bool) -> u64 {
        self.round += 1;
        if self.rounds.len() >= MAX_ROUNDS {
            self.rounds.pop_front();
        }
        self.rounds.push_back((self.round, now, commit));
        if take_waiting {
            let round = self.round;
            self.pending.extend(self.waiting.drain(..).map(|id| (id, round, commit)));
        }
        self.round
    }

    /// A quorum has confirmed every round up to `round`.
    pub fn confirm(&mut self, round: u64, out: &mut Vec<ReadState>) {
        if round <= self.confirmed {
            return;
        }
        self.confirmed = round;
        while let Some(&(r, sent, _)) = self.rounds.front() {
            if r > round {
                break;
            }
            self.rounds.pop_front();
            if r == round {
                self.lease_start = Some(sent);
            }
        }
        while let Some(&(id, r, index)) = self.pending.front() {
            if r > round {
                break;
            }
            self.pending.pop_front();
            out.push(ReadState { id, result: Ok(index) });
        }
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    /// When the current lease started, for tests of its boundary.
    #[cfg(test)]
    pub fn lease_start(&self) -> Option<Instant> {
        self.lease_start
    }
}

impl Raft {
    pub(super) fn start_read(&mut self, id: ReadId) -> Result<(), ReadError> {
        if self.role != Role::Leader {
            return Err(ReadError::NotLeader { leader_hint: self.leader });
        }
        if self.reads.len() >= self.cfg.max_pending_reads {
            return Err(ReadError::Busy);
        }
        if self.lease_valid() && self.can_serve_reads() {
            self.read_states.push(ReadState { id, result: Ok(self.log.commit) });
            return Ok(());
        }
        self.reads.waiting.push(id);
        Ok(())
    }

    /// Thesis §6.4 step 1: until an entry of its own term is committed, a
    /// new leader does not know the full commit index.
    pub(super) fn can_serve_reads(&self) -> bool {
        self.log.term(self.log.commit) == Some(self.term)
    }

    fn lease_valid(&self) -> bool {
        let super::ReadMode::Lease { max_clock_drift } = self.cfg.read_mode else { return false };
        // A transfer lets the target win at once, lease or not.
        self.transfer.is_none()
            && self
                .reads
                .lease_start
                .is_some_and(|start| self.now < start + self.cfg.election_timeout.saturating_sub(max_clock_drift))
    }

    /// Starts a round for waiting reads, once reads can be served.
    pub(super) fn flush_reads(&mut self) {
        if !self.reads.has_waiting() || !self.can_serve_reads() {
            return;
        }
        let round = self.reads.start_round(self.now, self.log.commit, true);
        self.send_heartbeats(round);
        self.confirm_reads();
    }

    pub(super) fn confirm_reads(&mut self) {
        let me = self.id;
        let mine = self.reads.round();
        let peers = &self.peers;
        let round = self.membership().quorum_value(|id| {
            if id == me { mine } else { peers.iter().find(|p| p.id == id).map_or(0, |p| p.read_round) }
        });
        self.reads.confirm(round, &mut self.read_states);
    }
}
