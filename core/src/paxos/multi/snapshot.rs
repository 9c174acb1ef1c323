//! Log compaction and snapshot transfer to acceptors whose missing slots
//! were compacted away (PML §5.5), chunked and restartable.

use super::MultiPaxos;
use super::message::{Body, SnapshotChunk, SnapshotResponse};
use super::progress::State;
use crate::id::{Ballot, LogIndex, NodeId};
use crate::replica::snapshot_transfer::{Received, receive};
use crate::replica::{CompactError, MessageError, Snapshot, SnapshotMeta};
use bytes::Bytes;

impl MultiPaxos {
    pub(super) fn take_snapshot(&mut self, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        let term = self.log.compactable(index)?;
        let membership = self.membership_at(index).clone();
        self.configs.retain(|(i, _)| *i > index);
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, membership }, data });
        Ok(())
    }

    /// Streams chunks of the current snapshot to peer `i`, a window at a time.
    pub(super) fn send_snapshot_chunks(&mut self, i: usize) {
        let chunk = self.cfg.snapshot_chunk_bytes as u64;
        while let Some(c) = self.peers[i].state.next_chunk(&self.log.snapshot, chunk) {
            let to = self.peers[i].id;
            self.send(to, self.promised, Body::Snapshot(c));
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
        pr.state.on_chunk_answer(&r, chunk);
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
        match receive(&mut self.incoming, from, c, self.cfg.max_snapshot_bytes)? {
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
                self.outbox.restore = Some(snap);
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: true });
                self.reply_after_writes(from, ballot, body);
            }
        }
        Ok(())
    }
}
