//! Persist-before-send, shared by Raft and Multi-Paxos: every answer that
//! claims durable state waits until the write it depends on is reported
//! durable. Raft Figure 2: "persist before responding to RPCs"; PMS §2.3:
//! an acceptor "must remember this information even if it fails and then
//! restarts", and PML §4 writes the log before replying.
//!
//! What a protocol votes with — Raft's term and vote, Multi-Paxos's
//! promised ballot (its `HardState::term`, vote always `None`) — is the
//! "vote state" here: an answer that depends only on it (a vote, a
//! promise without acceptances) waits for no log write.

use super::log::StableLog;
use super::{Envelope, HardState, Persist, PersistId};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

#[derive(Debug)]
pub(crate) struct Durability {
    /// Id of the next batch handed out; batch ids start at 1.
    next_id: u64,
    /// Highest batch reported durable.
    acked: u64,
    /// The hard state as of the last batch handed out.
    saved: HardState,
    /// The batch that carried the latest vote state change.
    vote_batch: u64,
    /// The hard state must be written even if only the commit index moved.
    forced: bool,
    /// Messages safe to send now.
    ready: Vec<Envelope>,
    /// Messages waiting for a batch, in the order they were produced.
    waiting: VecDeque<(u64, Envelope)>,
}

impl Durability {
    pub fn new(saved: HardState) -> Self {
        Durability {
            next_id: 1,
            acked: 0,
            saved,
            vote_batch: 0,
            forced: false,
            ready: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    pub fn acked(&self) -> PersistId {
        PersistId(self.acked)
    }

    /// True if the vote state differs from what was last written.
    pub fn vote_changed(&self, hs: HardState) -> bool {
        hs.term != self.saved.term || hs.vote != self.saved.vote
    }

    /// Asks for the commit index to be written with the next batch even if
    /// nothing else is: Multi-Paxos learns its configuration from it on a
    /// restart.
    pub fn force_write(&mut self) {
        self.forced = true;
    }

    /// True if a batch is due even with nothing in the log to write.
    pub fn wants_write(&self, hs: HardState) -> bool {
        self.forced || self.vote_changed(hs)
    }

    /// The batch a message claiming everything written so far depends on.
    pub fn dep_all(&self, log_unstable: bool, hs: HardState) -> u64 {
        if log_unstable || self.vote_changed(hs) { self.next_id } else { self.next_id - 1 }
    }

    /// The batch a message depending only on the vote state depends on.
    pub fn dep_vote(&self, hs: HardState) -> u64 {
        if self.vote_changed(hs) { self.next_id } else { self.vote_batch }
    }

    pub fn send_now(&mut self, env: Envelope) {
        self.ready.push(env);
    }

    /// Sends `env` once batch `dep` is durable. Each message waits only
    /// for the write it depends on, not behind older messages still
    /// waiting for theirs: a node whose disk refuses a write goes on
    /// answering what needs no write (heartbeats, so reads go on).
    pub fn send_after(&mut self, dep: u64, env: Envelope) {
        if dep <= self.acked {
            self.ready.push(env);
        } else {
            self.waiting.push_back((dep, env));
        }
    }

    /// Hands out the next batch, if anything needs writing. A commit index
    /// change alone is not worth a write: it rides along with the next one.
    pub fn take_write(&mut self, log: &mut StableLog, hs: HardState) -> Option<Persist> {
        let vote_changed = self.vote_changed(hs);
        if !log.has_unstable() && !vote_changed && !self.forced {
            return None;
        }
        self.forced = false;
        let id = PersistId(self.next_id);
        self.next_id += 1;
        let mut p = Persist { id, ..Persist::default() };
        log.take_unstable(id, &mut p);
        if hs != self.saved {
            p.hard_state = Some(hs);
            self.saved = hs;
        }
        if vote_changed {
            self.vote_batch = id.0;
        }
        Some(p)
    }

    /// Records that batches up to `id` are durable; false if that told
    /// nothing new (or named a batch never handed out).
    pub fn persisted(&mut self, id: PersistId) -> bool {
        let id = id.0.min(self.next_id - 1);
        if id <= self.acked {
            return false;
        }
        self.acked = id;
        // Release what is now durable, in production order among itself.
        // Dependencies mostly grow along the queue: take the front run,
        // then look further only if something behind it is ready too.
        while self.waiting.front().is_some_and(|(dep, _)| *dep <= self.acked) {
            if let Some((_, env)) = self.waiting.pop_front() {
                self.ready.push(env);
            }
        }
        if self.waiting.iter().any(|(dep, _)| *dep <= self.acked) {
            for (dep, env) in core::mem::take(&mut self.waiting) {
                if dep <= self.acked {
                    self.ready.push(env);
                } else {
                    self.waiting.push_back((dep, env));
                }
            }
        }
        true
    }

    pub fn has_messages(&self) -> bool {
        !self.ready.is_empty()
    }

    pub fn take_messages(&mut self, out: &mut Vec<Envelope>) {
        out.append(&mut self.ready);
    }
}
