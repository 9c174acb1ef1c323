//! Log replication (Raft §5.3): proposals, appends with per-peer progress
//! and a bounded window, fast back-off, heartbeats and the commit rule
//! (§5.4.2).

use super::Raft;
use super::message::{Append, AppendResponse, Body, Heartbeat, HeartbeatResponse};
use super::progress::{Progress, State};
use crate::id::{LogIndex, NodeId};
use crate::replica::progress::Due;
use crate::replica::{Entry, EntryKind, MessageError, Proposal, ProposeError, Role};
use crate::time::Instant;
use alloc::vec::Vec;
use bytes::Bytes;

impl Raft {
    pub(super) fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.votes.clear();
        self.transfer = None;
        self.uncommitted_bytes = 0;
        self.peers.clear();
        self.sync_peers();
        self.reads.reset();
        // A configuration entry left by an earlier leader may not be
        // committed; no new change starts until it is (thesis §4.1).
        self.pending_conf_index = self.configs.back().map_or(LogIndex(0), |(i, _)| *i);
        self.heartbeat_deadline = self.now + self.cfg.heartbeat_interval;
        self.quorum_check_deadline = self.now + self.cfg.election_timeout;
        self.emit_role();
        // Raft §8: commit an entry of the new term at once; it also makes
        // earlier-term entries committed and unblocks reads (thesis §6.4).
        self.append_entry(EntryKind::Noop, Bytes::new());
    }

    /// Adds progress for new members, drops it for removed ones.
    pub(super) fn sync_peers(&mut self) {
        let next = self.log.last_index().next();
        let m = self.membership().clone();
        self.peers.retain(|p| m.contains(p.id));
        for id in m.members().filter(|id| *id != self.id) {
            let voter = m.is_voter(id);
            match self.peers.iter_mut().find(|p| p.id == id) {
                Some(p) => p.voter = voter,
                None => self.peers.push(Progress::new(id, voter, next, self.cfg.max_inflight_msgs)),
            }
        }
    }

    pub(super) fn propose_entry(&mut self, kind: EntryKind, data: Bytes) -> Result<Proposal, ProposeError> {
        self.admit_proposal(data.len())?;
        Ok(self.append_entry(kind, data))
    }

    /// Appends to the leader's own log; replication happens at the next
    /// `poll_output`, so proposals arriving together share messages.
    pub(super) fn append_entry(&mut self, kind: EntryKind, data: Bytes) -> Proposal {
        let index = self.log.last_index().next();
        self.uncommitted_bytes += data.len();
        self.log.push(Entry { index, term: self.term, kind, data });
        Proposal { index, term: self.term }
    }

    /// A Raft follower keeps no applied entry in memory: votes carry no
    /// entries, and should it lead, it reads back what its peers lack.
    const FOLLOWER_KEEPS_TAIL: bool = false;

    crate::replica::engine::leader_methods!();

    /// What peer `i` is owed now (see [`Due`]).
    fn due(&self, i: usize) -> Due {
        let pr = &self.peers[i];
        match pr.state {
            State::Snapshot { .. } if pr.state.chunk_due(&self.log.snapshot, self.cfg.snapshot_chunk_bytes as u64) => {
                Due::Chunks
            }
            State::Snapshot { .. } => Due::Nothing,
            _ if pr.is_paused() || (pr.next_index > self.log.last_index() && !pr.needs_probe) => Due::Nothing,
            // The entries it needs are compacted away (Raft §7).
            _ if self.log.term(pr.next_index.prev()).is_none() => Due::Compacted,
            // In storage only: read back first.
            _ if pr.next_index < self.log.held_from() => Due::ReadBack,
            _ => Due::Entries,
        }
    }

    /// True if a follower that got no append this round is to hear of a
    /// new commit index (only one streaming, whose position we know).
    fn commit_notice_due(&self, i: usize) -> bool {
        let pr = &self.peers[i];
        pr.state == State::Replicate && self.log.term(pr.next_index.prev()).is_some()
    }

    /// Tells a follower that got no append this round about a new commit
    /// index, so it applies without waiting for the next heartbeat.
    fn send_commit(&mut self, i: usize) {
        let pr = &self.peers[i];
        let prev_index = pr.next_index.prev();
        let Some(prev_term) = self.log.term(prev_index) else { return }; // `commit_notice_due` saw it
        let to = pr.id;
        let commit = self.log.commit;
        self.send(to, Body::Append(Append { prev_index, prev_term, entries: Vec::new(), commit }));
    }

    /// Sends peer `i` one append from its next index (`due` said it is
    /// owed entries): whether another may follow at once, or `None` if
    /// nothing went out.
    fn send_entries(&mut self, i: usize) -> Option<bool> {
        let mut entries = Vec::new();
        let from = self.peers[i].next_index;
        self.log.slice(from, self.cfg.max_append_bytes, self.cfg.max_append_entries, &mut entries);
        self.send_append(i, entries)
    }

    /// Sends peer `i` entries read back from storage (from its next index).
    fn send_read_back(&mut self, i: usize, entries: Vec<Entry>) {
        self.send_append(i, entries);
    }

    /// Most entries and bytes in one append.
    fn batch_limits(&self) -> (usize, usize) {
        (self.cfg.max_append_entries, self.cfg.max_append_bytes)
    }

    /// Sends peer `i` an append of `entries` (from its next index; none:
    /// a probe): whether another may follow at once, or `None` if the
    /// term before them is not known (compacted meanwhile).
    fn send_append(&mut self, i: usize, entries: Vec<Entry>) -> Option<bool> {
        let pr = &self.peers[i];
        let prev_index = pr.next_index.prev();
        let prev_term = self.log.term(prev_index)?; // `due` saw it
        let pr = &mut self.peers[i];
        pr.needs_probe = false;
        let sent_last = entries.last().map(|e| e.index);
        let probing = pr.state == State::Probe;
        pr.on_sent(sent_last);
        let to = pr.id;
        let commit = self.log.commit;
        self.send(to, Body::Append(Append { prev_index, prev_term, entries, commit }));
        Some(sent_last.is_some() && !probing)
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
            let pr = &self.peers[i];
            // Never tell a follower to commit past what it is known to hold.
            let hb = Heartbeat { commit: commit.min(pr.match_index), read_round };
            let to = pr.id;
            self.send(to, Body::Heartbeat(hb));
        }
    }

    /// Accepts `from` as the leader of the current term.
    pub(super) fn accept_leader(&mut self, from: NodeId) -> Result<(), MessageError> {
        match self.role {
            Role::Leader => return Err(MessageError::Malformed("two leaders in one term")),
            Role::Candidate | Role::PreCandidate => {
                let term = self.term;
                self.become_follower(term, Some(from));
            }
            Role::Follower | Role::Learner => {
                if self.leader != Some(from) {
                    self.leader = Some(from);
                    self.emit_role();
                }
                self.reset_election_deadline();
            }
        }
        self.last_leader_contact = Some(self.now);
        self.incoming.take_if(|inc| inc.leader != from);
        Ok(())
    }

    pub(super) fn handle_append(&mut self, from: NodeId, a: Append) -> Result<(), MessageError> {
        self.accept_leader(from)?;
        let Append { mut prev_index, mut prev_term, mut entries, commit } = a;
        let committed = self.log.commit;
        if prev_index < committed {
            // Everything up to our commit index already matches the
            // leader's log (Raft §5.4, Leader Completeness); skip it.
            let skip = ((committed.0 - prev_index.0) as usize).min(entries.len());
            entries.drain(..skip);
            prev_index = prev_index.plus(skip as u64);
            if prev_index < committed {
                // The whole message is old news.
                self.reply_after_writes(
                    from,
                    Body::AppendResponse(AppendResponse::Accepted { match_index: prev_index }),
                );
                return Ok(());
            }
            prev_term = self.log.term(prev_index).unwrap_or(prev_term);
        }
        if self.log.term(prev_index) != Some(prev_term) {
            // Raft §5.3 consistency check failed; hint where to resume.
            let (hint_index, hint_term) = self.log.conflict_hint(prev_index, prev_term);
            let body = Body::AppendResponse(AppendResponse::Rejected { rejected: prev_index, hint_index, hint_term });
            self.reply_after_term(from, body);
            return Ok(());
        }
        let mut start = entries.len();
        for (k, e) in entries.iter().enumerate() {
            match self.log.term(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    // Raft §5.3: drop the conflicting entry and all after it.
                    // Never a committed one: the prefix up to our commit
                    // index was skipped above, and entries are contiguous
                    // from `prev_index` (checked in `step::validate`).
                    debug_assert!(e.index > self.log.commit);
                    self.truncate_log(e.index);
                    start = k;
                    break;
                }
                None => {
                    start = k;
                    break;
                }
            }
        }
        let last_new = prev_index.plus(entries.len() as u64);
        for e in entries.drain(start..) {
            self.append_received(e);
        }
        let new_commit = commit.min(last_new);
        if new_commit > self.log.commit {
            self.log.commit = new_commit;
        }
        self.reply_after_writes(from, Body::AppendResponse(AppendResponse::Accepted { match_index: last_new }));
        Ok(())
    }

    fn append_received(&mut self, e: Entry) {
        if e.kind == EntryKind::Membership {
            // Validated when the message arrived.
            if let Ok(m) = crate::replica::Membership::decode_exact(&e.data) {
                let index = e.index;
                self.log.push(e);
                self.on_config_appended(index, m);
                return;
            }
        }
        self.log.push(e);
    }

    pub(super) fn handle_append_response(&mut self, from: NodeId, r: AppendResponse) -> Result<(), MessageError> {
        let last = self.log.last_index();
        let now = self.now;
        let Some(i) = self.peers.iter().position(|p| p.id == from) else { return Ok(()) };
        let pr = &mut self.peers[i];
        mark_heard(pr, now);
        match r {
            AppendResponse::Accepted { match_index } => {
                if match_index > last {
                    return Err(MessageError::Malformed("acknowledged index past the leader's log"));
                }
                if pr.maybe_update(match_index) {
                    match pr.state {
                        State::Probe => pr.become_replicate(),
                        State::Snapshot { index, .. } if match_index >= index => pr.become_probe(),
                        _ => pr.inflights.free_to(match_index),
                    }
                    self.maybe_commit();
                    self.maybe_send_timeout_now(from);
                }
                // An answer that tells nothing new frees nothing either:
                // every index in flight is above `match_index`, since
                // appends are sent from `next_index` and the window is
                // freed up to each new `match_index` as it arrives.
            }
            AppendResponse::Rejected { rejected, hint_index, hint_term } => {
                let (probe, _) = self.log.conflict_hint(hint_index, hint_term);
                let pr = &mut self.peers[i];
                pr.maybe_decrease(rejected, probe.next());
            }
        }
        Ok(())
    }

    pub(super) fn handle_heartbeat(&mut self, from: NodeId, hb: Heartbeat) -> Result<(), MessageError> {
        self.accept_leader(from)?;
        let commit = hb.commit.min(self.log.last_index());
        if commit > self.log.commit {
            self.log.commit = commit;
        }
        self.reply_after_term(from, Body::HeartbeatResponse(HeartbeatResponse { read_round: hb.read_round }));
        Ok(())
    }

    pub(super) fn handle_heartbeat_response(&mut self, from: NodeId, r: HeartbeatResponse) {
        let last = self.log.last_index();
        let now = self.now;
        let Some(pr) = self.peer_mut(from) else { return };
        mark_heard(pr, now);
        pr.read_round = pr.read_round.max(r.read_round);
        match pr.state {
            State::Probe => pr.probe_sent = false,
            State::Replicate => {
                // Acks may have been lost: let one more append through.
                if pr.inflights.is_full() {
                    pr.inflights.free_first();
                }
            }
            State::Snapshot { .. } => pr.state.resume_chunks(),
        }
        if pr.match_index < last && (pr.state == State::Probe || pr.next_index > last) {
            pr.needs_probe = true;
        }
        self.confirm_reads();
    }

    /// Raft §5.4.2: advance the commit index to what a quorum holds, but
    /// only by counting replicas of an entry from the current term.
    pub(super) fn maybe_commit(&mut self) {
        let q = self.membership().committed_index(|id| self.peer_match(id));
        if q <= self.log.commit || self.log.term(q) != Some(self.term) {
            return;
        }
        let freed: usize = self.log.range(self.log.commit.next(), q).map(|e| e.data.len()).sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(freed);
        self.log.commit = q;
        self.commit_unsent = true;
        self.on_commit_advanced();
    }
}

fn mark_heard(pr: &mut Progress, now: Instant) {
    pr.recent_active = true;
    pr.last_heard = Some(now);
}
