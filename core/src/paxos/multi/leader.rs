//! The stable leader: proposals, phase 2 in batches with per-acceptor
//! progress, heartbeats and the commit rule (PMMC §3 "commanders"; PML §3).

use super::MultiPaxos;
use super::message::{Accept, Body, Heartbeat};
use super::progress::State;
use crate::id::{LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::replica::progress::Due;
use crate::replica::{Entry, EntryKind, MessageError, Proposal, ProposeError};
use alloc::vec::Vec;
use bytes::Bytes;

impl MultiPaxos {
    pub(super) fn propose_entry(&mut self, kind: EntryKind, data: Bytes) -> Result<Proposal, ProposeError> {
        self.admit_proposal(data.len())?;
        self.uncommitted_bytes += data.len();
        let index = self.append_entry(kind, data);
        Ok(Proposal { index, term: ballot_term(self.promised) })
    }

    /// Puts a value in the next slot, in our ballot. Phase 2 goes out at
    /// the next `poll_output`, so proposals that arrive together share
    /// messages.
    pub(super) fn append_entry(&mut self, kind: EntryKind, data: Bytes) -> LogIndex {
        let index = self.log.last_index().next();
        let term = ballot_term(self.promised);
        self.log.set(Entry { index, term, kind, data });
        self.prefix = index;
        index
    }

    /// An acceptor keeps its last applied slots in memory whatever its
    /// role: it tells a lagging candidate the chosen slots it lacks in its
    /// promise, from memory, and refuses one behind what it holds (as one
    /// behind its snapshot). Keeping none would refuse every candidate one
    /// slot behind, and a node that alone knows a slot chosen (one a
    /// configuration just removed) could then block every election (found
    /// by the simulator).
    const FOLLOWER_KEEPS_TAIL: bool = true;

    crate::replica::engine::leader_methods!();

    /// What acceptor `i` is owed now (see [`Due`]).
    fn due(&self, i: usize) -> Due {
        let pr = &self.peers[i];
        match pr.state {
            State::Snapshot { .. } if pr.state.chunk_due(&self.log.snapshot, self.cfg.snapshot_chunk_bytes as u64) => {
                Due::Chunks
            }
            State::Snapshot { .. } => Due::Nothing,
            // The slots it needs are compacted away.
            _ if pr.next_index <= self.log.snapshot.meta.index => Due::Compacted,
            _ if pr.is_paused() || pr.next_index > self.send_limit() => Due::Nothing,
            // In storage only: read back first.
            _ if pr.next_index < self.log.held_from() => Due::ReadBack,
            _ => Due::Entries,
        }
    }

    /// True if an acceptor that got nothing this round is to hear of a new
    /// commit index (only one streaming, whose position we know).
    fn commit_notice_due(&self, i: usize) -> bool {
        self.peers[i].state == State::Replicate
    }

    /// Tells an acceptor that got nothing this round about the new commit
    /// index, so it applies without waiting.
    fn send_commit(&mut self, i: usize) {
        let to = self.peers[i].id;
        let body = Body::Accept(Accept { entries: Vec::new(), commit: self.log.commit });
        self.send(to, self.promised, body);
    }

    /// Sends acceptor `i` one batch from its next slot (`due` said it is
    /// owed slots): whether another may follow at once, or `None` if
    /// nothing went out.
    fn send_entries(&mut self, i: usize) -> Option<bool> {
        let entries = self.batch(self.peers[i].next_index, self.send_limit());
        self.send_batch(i, entries)
    }

    /// Sends acceptor `i` slots read back from storage (from its next
    /// slot), in our ballot like every batch (see [`MultiPaxos::batch`]).
    fn send_read_back(&mut self, i: usize, mut entries: Vec<Entry>) {
        let term = ballot_term(self.promised);
        for e in &mut entries {
            e.term = term;
        }
        self.send_batch(i, entries);
    }

    /// Most slots and bytes in one accept batch.
    fn batch_limits(&self) -> (usize, usize) {
        (self.cfg.max_batch_entries, self.cfg.max_batch_bytes)
    }

    /// Sends acceptor `i` one batch: whether another may follow at once,
    /// or `None` if it is empty.
    fn send_batch(&mut self, i: usize, entries: Vec<Entry>) -> Option<bool> {
        let batch_last = entries.last()?.index;
        let pr = &mut self.peers[i];
        let probing = pr.state == State::Probe;
        pr.on_sent(Some(batch_last));
        let to = pr.id;
        let body = Body::Accept(Accept { entries, commit: self.log.commit });
        self.send(to, self.promised, body);
        Some(!probing)
    }

    /// Slots from `from` under the batch limits (at least one), all in our
    /// ballot: chosen slots held from older ballots are proposed again,
    /// with the same value — always safe, and it lets the acceptor learn
    /// them by the same rule as every other slot.
    fn batch(&self, from: LogIndex, to: LogIndex) -> Vec<Entry> {
        let term = ballot_term(self.promised);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for e in self.log.range(from, to).take(self.cfg.max_batch_entries) {
            bytes = bytes.saturating_add(e.size());
            if bytes > self.cfg.max_batch_bytes && !out.is_empty() {
                break;
            }
            out.push(Entry { term, ..e.clone() });
        }
        out
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        let take_waiting = self.can_serve_reads();
        let round = self.reads.start_round(self.now, self.log.commit, take_waiting);
        self.send_heartbeats(round);
        self.confirm_reads();
    }

    pub(super) fn send_heartbeats(&mut self, read_round: u64) {
        let commit = self.log.commit;
        for i in 0..self.peers.len() {
            let to = self.peers[i].id;
            self.send(to, self.promised, Body::Heartbeat(Heartbeat { commit, read_round }));
        }
    }

    /// An acceptor's phase 2b, or its answer to a heartbeat (with the read
    /// round it confirms).
    pub(super) fn handle_accepted(
        &mut self,
        from: NodeId,
        match_index: LogIndex,
        read_round: Option<u64>,
    ) -> Result<(), MessageError> {
        if match_index > self.log.last_index() {
            return Err(MessageError::Malformed("acknowledged slot past the leader's log"));
        }
        let now = self.now;
        let Some(pr) = self.peer_mut(from) else { return Ok(()) };
        pr.recent_active = true;
        pr.last_heard = Some(now);
        pr.match_index = pr.match_index.max(match_index);
        pr.inflights.free_to(pr.match_index);
        match (read_round, pr.state) {
            (None, State::Probe) => {
                // Where it stands is known now: stream from there.
                pr.become_replicate();
            }
            (None, _) => {}
            (Some(round), state) => {
                pr.read_round = pr.read_round.max(round);
                match state {
                    State::Probe => {
                        pr.probe_sent = false;
                        pr.next_index = pr.next_index.min(pr.match_index.next());
                    }
                    State::Replicate => {
                        // No progress over a heartbeat with slots outstanding:
                        // a batch or its answer was lost. Start over from
                        // what it holds.
                        if pr.match_index < pr.next_index.prev() && pr.match_index == pr.match_at_heartbeat {
                            pr.become_probe();
                        } else if pr.inflights.is_full() {
                            pr.inflights.free_first();
                        }
                    }
                    State::Snapshot { .. } => pr.state.resume_chunks(),
                }
                pr.match_at_heartbeat = pr.match_index;
            }
        }
        self.maybe_commit();
        if read_round.is_some() {
            self.confirm_reads();
        }
        self.maybe_send_timeout_now(from);
        Ok(())
    }

    /// A slot is chosen once a majority accepted it in our ballot (PMS
    /// §2.2); our own acceptance counts once durable. Every slot above the
    /// commit index we took office with holds a value of our ballot, and an
    /// acceptor's `match_index` covers only slots it accepted in our ballot
    /// or knows chosen, so the commit index is the quorum's match — in the
    /// configuration governing each slot.
    pub(super) fn maybe_commit(&mut self) {
        let me = self.id;
        let own = self.log.persisted.min(self.log.last_index());
        let peers = &self.peers;
        let q = self.quorum_commit(|id| {
            if id == me { own } else { peers.iter().find(|p| p.id == id).map_or(LogIndex(0), |p| p.match_index) }
        });
        let from = self.log.commit;
        if q <= from {
            return;
        }
        let freed: usize = self.log.range(from.next(), q).map(|e| e.data.len()).sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(freed);
        self.log.commit = q;
        self.commit_unsent = true;
        self.learn_configs(from);
    }
}
