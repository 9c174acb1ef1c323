//! What Raft and Multi-Paxos do alike as machines, written once:
//! [`replica_methods!`] is the part of `impl Replica` they share (each
//! protocol adds only which messages it takes, its timers and its status),
//! and [`leader_methods!`] the leader's flush, its prediction for
//! `has_output`, read rounds and the admission of proposals (each protocol
//! adds how it decides what a peer is owed and how it builds the messages).
//!
//! Macros rather than a blanket impl over a trait of accessors: the
//! machines keep this state in fields of their own (the log is each
//! protocol's view of the shared `StableLog`), and these bodies read and
//! call them directly. Each macro lists what it needs of the protocol.
//! One cost: cargo-mutants does not mutate inside macros, so these bodies
//! were mutation-tested in their per-protocol form, before the move.

/// The methods of [`Replica`](super::Replica) both protocols implement
/// alike. What a protocol must have for it: the fields `id`, `now`,
/// `role`, `log`, `durability`, `outbox`, `peers` and `cfg` (with
/// `retained_entries`), the constant `FOLLOWER_KEEPS_TAIL`, and the
/// methods `propose_entry`, `start_read`,
/// `tick_leader`, `tick_election`, `flush_leader`, `leader_has_work`,
/// `hard_state`, `maybe_commit`, `take_snapshot`, `propose_membership`,
/// `start_transfer` and (from [`leader_methods!`]) `on_log_read` and
/// `retain_floor`.
macro_rules! replica_methods {
    () => {
        fn id(&self) -> $crate::id::NodeId {
            self.id
        }

        fn propose(
            &mut self,
            now: $crate::time::Instant,
            data: bytes::Bytes,
        ) -> Result<$crate::replica::Proposal, $crate::replica::ProposeError> {
            self.now = now;
            self.propose_entry($crate::replica::EntryKind::Command, data)
        }

        fn read(
            &mut self,
            now: $crate::time::Instant,
            id: $crate::replica::ReadId,
        ) -> Result<(), $crate::replica::ReadError> {
            self.now = now;
            self.start_read(id)
        }

        fn handle_timeout(&mut self, now: $crate::time::Instant) {
            self.now = now;
            if self.role == $crate::replica::Role::Leader {
                self.tick_leader();
            } else {
                self.tick_election();
            }
        }

        fn poll_output(&mut self, out: &mut $crate::replica::Output) {
            if self.role == $crate::replica::Role::Leader {
                self.flush_leader();
            }
            if let Some(keep) = self.cfg.retained_entries {
                self.log.release_below = self.retain_floor(keep);
            }
            let hs = self.hard_state();
            self.outbox.drain(&mut self.log, &mut self.durability, hs, out);
            self.log.trim();
        }

        // Derived from the code `poll_output` runs: the outbox's tail and
        // the leader's per-peer decisions (`leader_has_work`).
        fn has_output(&self) -> bool {
            self.outbox.has_output(&self.log, &self.durability, self.hard_state())
                || (self.role == $crate::replica::Role::Leader && self.leader_has_work())
        }

        fn handle_persisted(&mut self, now: $crate::time::Instant, id: $crate::replica::PersistId) {
            self.now = now;
            if !self.durability.persisted(id) {
                return;
            }
            self.log.persisted_up_to(self.durability.acked());
            if self.role == $crate::replica::Role::Leader {
                // A leader counts its own copy only once durable (Raft
                // thesis §10.2.1; a Multi-Paxos leader's own acceptance alike).
                self.maybe_commit();
            }
        }

        fn handle_log_read(
            &mut self,
            now: $crate::time::Instant,
            read: $crate::replica::LogRead,
            result: Result<alloc::vec::Vec<$crate::replica::Entry>, $crate::replica::LogReadFailed>,
        ) -> Result<(), $crate::replica::LogReadError> {
            self.now = now;
            self.on_log_read(read, result)
        }

        fn compact(
            &mut self,
            now: $crate::time::Instant,
            index: $crate::id::LogIndex,
            data: bytes::Bytes,
        ) -> Result<(), $crate::replica::CompactError> {
            self.now = now;
            self.take_snapshot(index, data)
        }

        fn change_membership(
            &mut self,
            now: $crate::time::Instant,
            change: $crate::replica::MembershipChange,
        ) -> Result<$crate::replica::Proposal, $crate::replica::ProposeError> {
            self.now = now;
            self.propose_membership(change)
        }

        fn transfer_leader(
            &mut self,
            now: $crate::time::Instant,
            to: $crate::id::NodeId,
        ) -> Result<(), $crate::replica::TransferError> {
            self.now = now;
            self.start_transfer(to)
        }

        fn peer_status(&self, out: &mut alloc::vec::Vec<$crate::replica::PeerStatus>) {
            out.extend(self.peers.iter().map($crate::replica::progress::Progress::status));
        }

        fn entry_term(&self, index: $crate::id::LogIndex) -> Option<$crate::id::Term> {
            self.log.term(index)
        }

        fn entry(&self, index: $crate::id::LogIndex) -> Option<$crate::replica::Entry> {
            self.log.entry(index).cloned()
        }
    };
}

/// The leader's side of `poll_output` and of `has_output`, for an `impl`
/// block of a protocol: which peers are owed what
/// ([`Due`](crate::replica::progress::Due)), snapshot chunks, a new commit
/// index for those that got nothing, and read rounds (Raft thesis §6.4;
/// PML §5.2); the prediction (`leader_has_work`) asks the same decisions
/// the flush acts on. With them, the admission of proposals and reads.
///
/// The protocol supplies the fields `peers`, `reads`, `commit_unsent`,
/// `log`, `now`, `id`, `outbox`, `role`, `leader`, `transfer`,
/// `uncommitted_bytes` and `cfg`; a `Body` with a `Snapshot` variant in
/// scope; and the methods `due`, `commit_notice_due`, `send_commit`,
/// `send_entries` (`None` if nothing went out, else whether more may follow
/// at once), `send_read_back` (entries read back from storage, as peer
/// `i`'s next message), `batch_limits` (most entries and bytes in one
/// message), `send_as_leader`, `send_heartbeats`, `can_serve_reads` and
/// `membership` and `maybe_commit`.
///
/// Reading back: a peer whose next entries are no longer held in memory
/// is owed [`Due::ReadBack`](crate::replica::progress::Due): the leader
/// asks its caller for them ([`LogRead`](crate::replica::LogRead)) and
/// sends nothing more to that peer until they come (`on_log_read`), fail,
/// or an election timeout passes without an answer (`expire_log_reads`,
/// from the protocol's leader tick).
macro_rules! leader_methods {
    () => {
        /// Refuses a proposal this node may not take now: not the leader,
        /// handing leadership over, larger than an entry may be, or past
        /// the bound on uncommitted bytes (one entry always fits).
        fn admit_proposal(&self, len: usize) -> Result<(), $crate::replica::ProposeError> {
            use $crate::replica::ProposeError;
            if self.role != $crate::replica::Role::Leader {
                return Err(ProposeError::NotLeader { leader_hint: self.leader });
            }
            if self.transfer.is_some() {
                return Err(ProposeError::TransferInProgress);
            }
            if len > self.cfg.max_entry_bytes {
                return Err(ProposeError::ProposalTooLarge { size: len, max: self.cfg.max_entry_bytes });
            }
            if self.uncommitted_bytes > 0 && self.uncommitted_bytes + len > self.cfg.max_uncommitted_bytes {
                return Err(ProposeError::Busy);
            }
            Ok(())
        }

        /// Takes a linearizable read: served at once under a valid lease
        /// (thesis §6.4.1), otherwise queued for the next round, within the
        /// bound on pending reads.
        pub(super) fn start_read(&mut self, id: $crate::replica::ReadId) -> Result<(), $crate::replica::ReadError> {
            if self.role != $crate::replica::Role::Leader {
                return Err($crate::replica::ReadError::NotLeader { leader_hint: self.leader });
            }
            // A transfer forfeits the lease (see `start_transfer`).
            let lease = self.reads.lease_holds(self.cfg.read_mode, self.now, self.cfg.election_timeout);
            let serve_now = lease && self.can_serve_reads();
            self.reads.admit(id, self.cfg.max_pending_reads, serve_now, self.log.commit, &mut self.outbox.reads)
        }

        /// Streams chunks of the current snapshot to peer `i`, a window at
        /// a time.
        fn send_snapshot_chunks(&mut self, i: usize) {
            let chunk = self.cfg.snapshot_chunk_bytes as u64;
            while let Some(c) = self.peers[i].state.next_chunk(&self.log.snapshot, chunk) {
                let to = self.peers[i].id;
                self.send_as_leader(to, Body::Snapshot(c));
            }
        }

        /// A peer's answer to snapshot chunks: how much it holds, or that it
        /// installed the snapshot.
        pub(super) fn handle_snapshot_response(
            &mut self,
            from: $crate::id::NodeId,
            r: $crate::replica::snapshot_transfer::SnapshotResponse,
        ) {
            let chunk = self.cfg.snapshot_chunk_bytes as u64;
            let now = self.now;
            let Some(pr) = self.peers.iter_mut().find(|p| p.id == from) else { return };
            pr.recent_active = true;
            pr.last_heard = Some(now);
            if r.done {
                pr.on_snapshot_installed(r.index);
                self.maybe_commit();
                return;
            }
            pr.state.on_chunk_answer(&r, chunk);
        }

        /// True if `flush_leader` would send anything.
        pub(super) fn leader_has_work(&self) -> bool {
            self.read_round_due()
                || (0..self.peers.len()).any(|i| {
                    self.due(i) != $crate::replica::progress::Due::Nothing
                        || (self.commit_unsent && self.commit_notice_due(i))
                })
        }

        pub(super) fn flush_leader(&mut self) {
            let commit_moved = core::mem::take(&mut self.commit_unsent);
            for i in 0..self.peers.len() {
                let sent = self.send_to(i);
                if !sent && commit_moved && self.commit_notice_due(i) {
                    self.send_commit(i);
                }
            }
            self.flush_reads();
        }

        /// Sends peer `i` what it is owed, as long as it is owed anything;
        /// true if anything went out.
        fn send_to(&mut self, i: usize) -> bool {
            use $crate::replica::progress::Due;
            let mut sent = false;
            loop {
                match self.due(i) {
                    Due::Nothing => return sent,
                    Due::Chunks => {
                        self.send_snapshot_chunks(i);
                        return true;
                    }
                    Due::Compacted => {
                        let index = self.log.snapshot.meta.index;
                        self.peers[i].become_snapshot(index);
                        self.send_snapshot_chunks(i);
                        return true;
                    }
                    Due::ReadBack => {
                        self.request_log_read(i);
                        return true;
                    }
                    Due::Entries => match self.send_entries(i) {
                        None => return sent,
                        Some(more) => {
                            sent = true;
                            if !more {
                                return true;
                            }
                        }
                    },
                }
            }
        }

        /// Asks the caller to read back what peer `i` needs next, up to the
        /// first entry held in memory and within one message's limits.
        fn request_log_read(&mut self, i: usize) {
            let (max_entries, max_bytes) = self.batch_limits();
            let to = self.log.held_from().prev();
            let pr = &mut self.peers[i];
            pr.reading = Some((pr.next_index, self.now));
            let read = $crate::replica::LogRead { peer: pr.id, from: pr.next_index, to, max_entries, max_bytes };
            self.outbox.log_reads.push(read);
        }

        /// The caller's answer to a [`LogRead`](crate::replica::LogRead):
        /// dropped if it no longer fits (not leader, the peer moved on or
        /// stopped waiting); checked against the terms this log knows;
        /// sent on as the peer's next message. A failed or refused read
        /// sends the peer back to probing.
        pub(super) fn on_log_read(
            &mut self,
            read: $crate::replica::LogRead,
            result: Result<alloc::vec::Vec<$crate::replica::Entry>, $crate::replica::LogReadFailed>,
        ) -> Result<(), $crate::replica::LogReadError> {
            use $crate::replica::LogReadError;
            if self.role != $crate::replica::Role::Leader {
                return Ok(());
            }
            let Some(i) = self.peers.iter().position(|p| p.id == read.peer) else { return Ok(()) };
            let pr = &mut self.peers[i];
            if pr.reading.is_none_or(|(from, _)| from != read.from) {
                // Not the read outstanding: one given up on, answered late.
                return Ok(());
            }
            pr.reading = None;
            if pr.next_index != read.from || read.from <= self.log.snapshot.meta.index {
                // The peer moved while it was read (an answer, a rejection),
                // or the entries were compacted: what it needs now is
                // decided afresh (another read, entries, or the snapshot).
                return Ok(());
            }
            let checked = match result {
                Ok(entries) => $crate::replica::read_back::check_answer(&self.log, &read, &entries).map(|()| entries),
                Err($crate::replica::LogReadFailed) => Err(LogReadError::Failed),
            };
            match checked {
                Ok(entries) => {
                    self.send_read_back(i, entries);
                    Ok(())
                }
                Err(e) => {
                    self.peers[i].on_read_back_failed();
                    Err(e)
                }
            }
        }

        /// Gives up on read-backs unanswered for an election timeout (the
        /// caller lost them): those peers probe again.
        pub(super) fn expire_log_reads(&mut self) {
            let now = self.now;
            let timeout = self.cfg.election_timeout;
            for pr in &mut self.peers {
                if pr.reading.is_some_and(|(_, since)| now >= since + timeout) {
                    pr.on_read_back_failed();
                }
            }
        }

        /// Where memory may start once this poll's committed entries are
        /// applied (`StableLog::release_below`): a leader keeps what its
        /// peers still need, but never more than `keep` applied entries for
        /// them. Any other role keeps the last `keep` applied entries if the
        /// protocol needs them (`FOLLOWER_KEEPS_TAIL`), none otherwise.
        pub(super) fn retain_floor(&self, keep: u64) -> $crate::id::LogIndex {
            let log = &self.log;
            let next_to_apply = log.commit.min(log.persisted).max(log.applied).next();
            let tail = $crate::id::LogIndex(next_to_apply.0.saturating_sub(keep));
            if self.role != $crate::replica::Role::Leader {
                return if Self::FOLLOWER_KEEPS_TAIL { tail } else { next_to_apply };
            }
            let needed = self.peers.iter().map(|p| p.match_index.next()).min().unwrap_or(next_to_apply);
            needed.max(tail)
        }

        /// True if `flush_reads` would start a round: waiting reads start
        /// one only once reads can be served.
        pub(super) fn read_round_due(&self) -> bool {
            self.reads.has_waiting() && self.can_serve_reads()
        }

        /// Starts a round for waiting reads, once reads can be served.
        pub(super) fn flush_reads(&mut self) {
            if !self.read_round_due() {
                return;
            }
            let round = self.reads.start_round(self.now, self.log.commit, true);
            self.send_heartbeats(round);
            self.confirm_reads();
        }

        /// Releases the reads of every round a quorum has confirmed.
        pub(super) fn confirm_reads(&mut self) {
            let own = self.reads.round();
            let round = $crate::replica::progress::read_quorum(&self.peers, self.membership(), self.id, own);
            self.reads.confirm(round, &mut self.outbox.reads);
        }
    };
}

pub(crate) use {leader_methods, replica_methods};
