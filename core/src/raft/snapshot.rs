//! Log compaction and InstallSnapshot (Raft §7), chunked and restartable.

use super::Raft;
use super::message::{Body, SnapshotChunk, SnapshotResponse};
use super::progress::State;
use crate::id::{LogIndex, NodeId};
use crate::replica::{CompactError, Membership, MessageError, Snapshot, SnapshotMeta};
use alloc::vec::Vec;
use bytes::Bytes;

/// Chunks in flight to one follower.
const SNAPSHOT_WINDOW: u64 = 4;

/// A snapshot being received from `leader`.
#[derive(Debug)]
pub(super) struct Incoming {
    pub leader: NodeId,
    meta: SnapshotMeta,
    buf: Vec<u8>,
}

impl Raft {
    fn membership_at(&self, index: LogIndex) -> Membership {
        self.configs
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.log.snapshot.meta.membership.clone(), |(_, m)| m.clone())
    }

    pub(super) fn take_snapshot(&mut self, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        let existing = self.log.snapshot.meta.index;
        if index <= existing {
            return Err(CompactError::AlreadyCompacted { index, existing });
        }
        if index > self.log.applied {
            return Err(CompactError::NotApplied { index, applied: self.log.applied });
        }
        let Some(term) = self.log.term(index) else {
            return Err(CompactError::AlreadyCompacted { index, existing });
        };
        let membership = self.membership_at(index);
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, membership }, data });
        self.configs.retain(|(i, _)| *i > index);
        Ok(())
    }

    /// Streams chunks of the current snapshot to peer `i`, a window at a time.
    /// Chunks in the current snapshot (an empty snapshot still takes one).
    fn snapshot_chunks(&self) -> u64 {
        let len = self.log.snapshot.data.len() as u64;
        len.div_ceil(self.cfg.snapshot_chunk_bytes as u64).max(1)
    }

    /// True if [`Self::send_snapshot_chunks`] would send something to a
    /// peer in this state: `has_output` must not promise output that the
    /// window holds back, or a driver polling on it would spin.
    pub(super) fn snapshot_chunk_due(&self, state: &State) -> bool {
        let State::Snapshot { index, sent, acked } = *state else { return false };
        index != self.log.snapshot.meta.index || (sent < self.snapshot_chunks() && sent < acked + SNAPSHOT_WINDOW)
    }

    pub(super) fn send_snapshot_chunks(&mut self, i: usize) {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        let snap_index = self.log.snapshot.meta.index;
        let len = self.log.snapshot.data.len() as u64;
        let total = self.snapshot_chunks();
        loop {
            let pr = &mut self.peers[i];
            let State::Snapshot { index, sent, acked } = &mut pr.state else { return };
            if *index != snap_index {
                // Compacted again meanwhile: send the newer snapshot instead.
                *index = snap_index;
                *sent = 0;
                *acked = 0;
            }
            if *sent >= total || *sent >= *acked + SNAPSHOT_WINDOW {
                return;
            }
            let offset = *sent * chunk;
            let end = (offset + chunk).min(len);
            *sent += 1;
            let to = pr.id;
            let data = self.log.snapshot.data.slice(offset as usize..end as usize);
            let meta = self.log.snapshot.meta.clone();
            self.send(to, Body::Snapshot(SnapshotChunk { meta, offset, data, done: end == len }));
        }
    }

    pub(super) fn handle_snapshot_response(&mut self, from: NodeId, r: SnapshotResponse) {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        let now = self.now;
        let Some(pr) = self.peer_mut(from) else { return };
        pr.recent_active = true;
        pr.last_heard = Some(now);
        if r.done {
            // Installed and durable: everything up to its index matches.
            pr.maybe_update(r.index);
            if matches!(pr.state, State::Snapshot { .. }) {
                pr.become_probe();
            }
            self.maybe_commit();
            return;
        }
        let State::Snapshot { index, sent, acked } = &mut pr.state else { return };
        if *index != r.index {
            return;
        }
        if !r.next_offset.is_multiple_of(chunk) {
            // Chunk boundaries differ from an earlier sender's: restart.
            *sent = 0;
            *acked = 0;
            return;
        }
        let next = r.next_offset / chunk;
        *acked = next;
        // The follower may be missing chunks we sent: resume from its offset.
        *sent = next;
    }

    pub(super) fn handle_snapshot_chunk(&mut self, from: NodeId, c: SnapshotChunk) -> Result<(), MessageError> {
        self.accept_leader(from)?;
        let index = c.meta.index;
        if index <= self.log.commit {
            // Everything it covers is committed here already.
            self.incoming = None;
            let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset: 0, done: true });
            self.reply_after_writes(from, body);
            return Ok(());
        }
        let fresh = c.offset == 0 || self.incoming.as_ref().is_none_or(|inc| inc.meta != c.meta);
        if fresh {
            if c.offset != 0 {
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset: 0, done: false });
                self.reply_after_term(from, body);
                return Ok(());
            }
            self.incoming = Some(Incoming { leader: from, meta: c.meta.clone(), buf: Vec::new() });
        }
        let Some(inc) = self.incoming.as_mut() else { return Ok(()) };
        let have = inc.buf.len() as u64;
        if c.offset != have {
            let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset: have, done: false });
            self.reply_after_term(from, body);
            return Ok(());
        }
        if !crate::replica::limits::snapshot_fits(inc.buf.len(), c.data.len(), self.cfg.max_snapshot_bytes) {
            self.incoming = None;
            return Err(MessageError::Malformed("snapshot exceeds max_snapshot_bytes"));
        }
        if !c.done {
            inc.buf.extend_from_slice(&c.data);
            let next_offset = inc.buf.len() as u64;
            let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: false });
            self.reply_after_term(from, body);
            return Ok(());
        }
        let data = if inc.buf.is_empty() {
            c.data // a one-chunk snapshot: no copy
        } else {
            inc.buf.extend_from_slice(&c.data);
            Bytes::from(core::mem::take(&mut inc.buf))
        };
        self.incoming = None;
        let next_offset = data.len() as u64;
        self.install_snapshot(Snapshot { meta: c.meta, data });
        let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: true });
        self.reply_after_writes(from, body);
        Ok(())
    }

    fn install_snapshot(&mut self, snap: Snapshot) {
        let index = snap.meta.index;
        let keeps_suffix = self.log.term(index) == Some(snap.meta.term);
        self.log.install_snapshot(snap.clone());
        if keeps_suffix {
            self.configs.retain(|(i, _)| *i > index);
        } else {
            self.configs.clear();
        }
        self.apply_membership();
        self.restore = Some(snap);
    }
}
