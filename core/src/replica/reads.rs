//! The bookkeeping of linearizable reads shared by Raft and Multi-Paxos:
//! heartbeat rounds, the reads waiting on them, and the lease a confirmed
//! round gives. Each protocol's `read` module says why its rounds and its
//! lease are sound.

use super::{ReadError, ReadId, ReadState};
use crate::id::LogIndex;
use crate::time::Duration;
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Rounds kept for lease bookkeeping; older unconfirmed rounds are
/// superseded by newer ones anyway.
const MAX_ROUNDS: usize = 1024;

/// How a leader makes a read linearizable, on either protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Confirm leadership with a quorum round sent after the read arrived
    /// (Raft thesis §6.4's ReadIndex; on Multi-Paxos, that no acceptor of
    /// the quorum promised a higher ballot). Safe under any clock
    /// behaviour.
    ReadIndex,
    /// Serve reads while a leader lease holds: followers (acceptors) help
    /// no other candidate for an election timeout after hearing from the
    /// leader, so no new leader exists before the lease ends (thesis
    /// §6.4.1; PML §5.2 "master leases"). No round trip, but safe only if
    /// clocks drift less than `max_clock_drift` over one election timeout.
    /// Falls back to a quorum round when the lease has lapsed.
    Lease {
        /// The most any two clocks may diverge over one election timeout.
        max_clock_drift: Duration,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// The latest round started in this leadership.
    round: u64,
    /// The latest round a quorum confirmed.
    confirmed: u64,
    /// Unconfirmed rounds: (round, sent at).
    rounds: VecDeque<(u64, Instant)>,
    /// Send time of the latest confirmed round.
    lease_start: Option<Instant>,
    /// No lease for the rest of this leadership: a leadership transfer
    /// began, and the target may be elected despite followers' leases
    /// (Raft thesis §3.10), even after the transfer was abandoned, by a
    /// request still in flight. Reads take a quorum round instead.
    forfeited: bool,
    /// Reads that need a round started after they arrived.
    waiting: Vec<ReadId>,
    /// Reads attached to a round: (id, round, read index).
    pending: VecDeque<(ReadId, u64, LogIndex)>,
}

impl Reads {
    /// A new leadership: rounds restart, waiting reads stay.
    pub fn reset(&mut self) {
        *self = Reads { waiting: core::mem::take(&mut self.waiting), ..Reads::default() };
    }

    pub fn len(&self) -> usize {
        self.waiting.len() + self.pending.len()
    }

    /// A read that needs the next round.
    fn wait(&mut self, id: ReadId) {
        self.waiting.push(id);
    }

    /// Takes read `id` at a leader: refused past `max_pending` reads,
    /// answered at once at `commit` when `serve_now` (a lease holds and
    /// the leader knows its full commit index), else it waits for the
    /// next round.
    pub fn admit(
        &mut self,
        id: ReadId,
        max_pending: usize,
        serve_now: bool,
        commit: LogIndex,
        out: &mut Vec<ReadState>,
    ) -> Result<(), ReadError> {
        if self.len() >= max_pending {
            return Err(ReadError::Busy);
        }
        if serve_now {
            out.push(ReadState { id, result: Ok(commit) });
        } else {
            self.wait(id);
        }
        Ok(())
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

    /// Starts a round at `now`; waiting reads join it at `commit` if
    /// `take_waiting`.
    pub fn start_round(&mut self, now: Instant, commit: LogIndex, take_waiting: bool) -> u64 {
        self.round += 1;
        if self.rounds.len() >= MAX_ROUNDS {
            self.rounds.pop_front();
        }
        self.rounds.push_back((self.round, now));
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
        while let Some(&(r, sent)) = self.rounds.front() {
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

    /// Gives up the lease until the next leadership ([`Reads::reset`]).
    pub fn forfeit(&mut self) {
        self.forfeited = true;
        self.lease_start = None;
    }

    /// True if a lease lets the leader answer a read at `now` without a
    /// round: a quorum confirmed a round sent at `start`, so no other
    /// leader exists before `start + election_timeout` by the slowest
    /// clock, less the drift bound.
    pub fn lease_holds(&self, mode: ReadMode, now: Instant, election_timeout: Duration) -> bool {
        let ReadMode::Lease { max_clock_drift } = mode else { return false };
        let start = if self.forfeited { None } else { self.lease_start };
        start.is_some_and(|start| now < start + election_timeout.saturating_sub(max_clock_drift))
    }

    /// When the current lease started, for tests of its boundary.
    #[cfg(test)]
    pub fn lease_start(&self) -> Option<Instant> {
        self.lease_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn admission_serves_under_a_lease_queues_otherwise_and_bounds_both() {
        let mut reads = Reads::default();
        let mut out = Vec::new();
        // Served at once: nothing held, so it never counts against the bound.
        assert_eq!(reads.admit(ReadId(1), 1, true, LogIndex(7), &mut out), Ok(()));
        assert_eq!(out, vec![ReadState { id: ReadId(1), result: Ok(LogIndex(7)) }]);
        assert_eq!(reads.len(), 0);
        // Without a lease it waits for the next round, which takes it at
        // the commit index of that round.
        assert_eq!(reads.admit(ReadId(2), 1, false, LogIndex(7), &mut out), Ok(()));
        assert_eq!((reads.len(), out.len()), (1, 1));
        assert_eq!(reads.admit(ReadId(3), 1, false, LogIndex(7), &mut out), Err(ReadError::Busy));
        assert_eq!(reads.admit(ReadId(4), 1, true, LogIndex(7), &mut out), Err(ReadError::Busy));
        let round = reads.start_round(Instant::ZERO, LogIndex(9), true);
        reads.confirm(round, &mut out);
        assert_eq!(out[1], ReadState { id: ReadId(2), result: Ok(LogIndex(9)) });
    }
}
