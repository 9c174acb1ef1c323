//! Log compaction and InstallSnapshot (Raft §7), chunked and restartable.

use super::Raft;
use super::message::{Body, SnapshotChunk, SnapshotResponse};
use crate::id::{LogIndex, NodeId};
use crate::replica::snapshot_transfer::{Received, receive};
use crate::replica::{CompactError, Membership, MessageError, Snapshot, SnapshotMeta};
use bytes::Bytes;

impl Raft {
    fn membership_at(&self, index: LogIndex) -> Membership {
        self.configs
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.log.snapshot.meta.membership.clone(), |(_, m)| m.clone())
    }

    pub(super) fn take_snapshot(&mut self, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        let term = self.log.compactable(index)?;
        let membership = self.membership_at(index);
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, membership }, data });
        self.configs.retain(|(i, _)| *i > index);
        Ok(())
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
        match receive(&mut self.incoming, from, c, self.cfg.max_snapshot_bytes)? {
            Received::Partial(next_offset) => {
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: false });
                self.reply_after_term(from, body);
            }
            Received::Complete(snap) => {
                let next_offset = snap.data.len() as u64;
                self.install_snapshot(snap);
                let body = Body::SnapshotResponse(SnapshotResponse { index, next_offset, done: true });
                self.reply_after_writes(from, body);
            }
        }
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
        self.outbox.restore = Some(snap);
    }
}
