//! Log compaction and snapshot transfer to acceptors whose missing slots
//! were compacted away (PML §5.5), chunked and restartable.

use super::MultiPaxos;
use super::message::{Body, SnapshotChunk, SnapshotResponse};
use super::progress::State;
use crate::id::{Ballot, LogIndex, NodeId};
use crate::replica::snapshot_transfer::{Chunk, ChunkWindow, Received, receive};
use crate::replica::{CompactError, MessageError, Snapshot, SnapshotMeta};
use bytes::Bytes;

impl MultiPaxos {
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
        let membership = self.membership_at(index).clone();
        self.configs.retain(|(i, _)| *i > index);
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, membership }, data });
        Ok(())
    }

    /// Chunks in the current snapshot.
    pub(super) fn snapshot_chunks(&self) -> u64 {
        (self.log.snapshot.data.len() as u64).div_ceil(self.cfg.snapshot_chunk_bytes as u64).max(1)
    }

    /// Streams chunks of the current snapshot to peer `i`, a window at a time.
    pub(super) fn send_snapshot_chunks(&mut self, i: usize) {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        let snap_index = self.log.snapshot.meta.index;
        let len = self.log.snapshot.data.len() as u64;
        let total = self.snapshot_chunks();
        loop {
            let pr = &mut self.peers[i];
            let State::Snapshot { index, window } = &mut pr.state else { return };
            if *index != snap_index {
                // Compacted again meanwhile: send the newer snapshot instead.
                *index = snap_index;
                *window = ChunkWindow::default();
            }
            let Some(n) = window.next_to_send(total) else { return };
            let offset = n * chunk;
            let end = (offset + chunk).min(len);
            let to = pr.id;
            let data = self.log.snapshot.data.slice(offset as usize..end as usize);
            let meta = self.log.snapshot.meta.clone();
            let body = Body::Snapshot(SnapshotChunk { meta, offset, data, done: end == len });
            self.send(to, self.promised, body);
        }
    }

    pub(super) fn handle_snapshot_response(&mut self, from: NodeId, r: SnapshotResponse) {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        let now = self.now;
        let Some(pr) = self.peer_mut(from) else { return };
        pr.recent_active = true;
        pr.last_heard = Some(now);
        if r.done {
            // Installed and durable: every slot up to its index is chosen there.
            pr.match_index = pr.match_index.max(r.index);
            if matches!(pr.state, State::Snapshot { .. }) {
                pr.become_probe();
            }
            self.maybe_commit();
            return;
        }
        let State::Snapshot { index, window } = &mut pr.state else { return };
        if *index == r.index {
            window.on_answer(r.next_offset, chunk);
        }
    }

    pub(super) fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        c: SnapshotChunk,
    ) -> Result<(), MessageError> {
        if !self.follow(from, ballot) {
            return Ok(());
        }
        let index = c.meta.index;
        if index <= self.log.commit {
            // Everything it covers is chosen here already.
            self.incoming = None;
            let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset: 0, done: true });
            self.reply_after_writes(from, ballot, body);
            return Ok(());
        }
        let chunk = Chunk { meta: c.meta, offset: c.offset, data: c.data, done: c.done };
        match receive(&mut self.incoming, from, chunk, self.cfg.max_snapshot_bytes)? {
            Received::Partial(next_offset) => {
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: false });
                self.reply_after_promise(from, ballot, body);
            }
            Received::Complete(snap) => {
                let next_offset = snap.data.len() as u64;
                self.log.install_snapshot(snap.clone());
                self.configs.clear();
                if self.membership != snap.meta.membership {
                    self.membership = snap.meta.membership.clone();
                    self.membership_changed();
                }
                self.reset_prefix();
                self.restore = Some(snap);
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: true });
                self.reply_after_writes(from, ballot, body);
            }
        }
        Ok(())
    }
}
