//! Log compaction and snapshot transfer to acceptors whose missing slots
//! were compacted away (PML §5.5), chunked and restartable.

use super::MultiPaxos;
use super::message::{Body, SnapshotChunk, SnapshotResponse};
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
