//! The log store: where a node keeps what its replica hands out to
//! persist, and what it reads back on start.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use synod_core::replica::{Entry, LogRead, Persist, Recovered};

/// Why storage failed. The node stops rather than acknowledge anything
/// it could not make durable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data is damaged somewhere a torn write cannot explain.
    #[error("corrupt log: {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record exceeds the configured maximum.
    #[error("record of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The data directory belongs to another cluster.
    #[error("data directory {dir} belongs to cluster {found:?}, this node is in cluster {expected:?}")]
    WrongCluster {
        /// The directory.
        dir: PathBuf,
        /// Its cluster id.
        found: String,
        /// Ours.
        expected: String,
    },
    /// The data directory belongs to another node.
    #[error("data directory {dir} belongs to node {found}, this is node {expected}")]
    WrongNode {
        /// The directory.
        dir: PathBuf,
        /// Its node id.
        found: u64,
        /// Ours.
        expected: u64,
    },
    /// The data directory says it belongs to this node, but its log is
    /// gone: no segment holds a record (the segments were deleted, or the
    /// disk lost their contents). Starting on it would forget the node's
    /// term, its vote and the entries it acknowledged, and with it the
    /// overlap of quorums that keeps committed writes; so the node must
    /// not start on it, under this id, ever again.
    #[error(
        "data directory {dir} belongs to node {node} but its write-ahead log is gone ({segments} segment files, \
         none holding a record): starting would forget this node's votes and the entries it acknowledged, and \
         could lose committed writes. Do not start node {node} on this directory: remove node {node} from the \
         cluster and add a new node with a new id and an empty data directory"
    )]
    LogLost {
        /// The directory.
        dir: PathBuf,
        /// The node it belongs to.
        node: u64,
        /// Segment files found, none holding a whole record.
        segments: usize,
    },
    /// The store was shut down.
    #[error("store is closed")]
    Closed,
    /// A write found a resource exhausted: the file system full, a disk
    /// quota, or file descriptors. Nothing of the refused batches was kept
    /// and the store stays usable: the same batches may be persisted again
    /// once there is room.
    #[error("{op} {path}: {source} (nothing written; retry when there is room)")]
    Exhausted {
        /// What was being done.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// True if the store refused the write but stays usable: retrying the
    /// same batches later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Exhausted { .. })
    }
}

/// Durable storage for one replica.
///
/// Contract (see [`Persist`]): batches are applied in order and each is
/// atomic; after `persist` returns `Ok`, every batch given so far survives
/// any crash; `load` returns exactly what was durable.
#[async_trait]
pub trait LogStore: Send {
    /// Everything durable, to rebuild the replica on start.
    async fn load(&mut self) -> Result<Recovered, StoreError>;

    /// Writes `batches` in order and makes them all durable with as few
    /// syncs as possible (group commit). On an error for which
    /// [`StoreError::is_retryable`] holds, none of `batches` was kept and
    /// the same batches may be given again; any other error leaves the
    /// store unusable.
    async fn persist(&mut self, batches: Vec<Persist>) -> Result<(), StoreError>;

    /// Reads stored entries back for `read`: from `read.from` on, within
    /// its range and budgets (see [`LogRead::take`]). Fewer than asked, or
    /// none, if the store no longer holds them (a snapshot covered them).
    async fn read_entries(&mut self, read: LogRead) -> Result<Vec<Entry>, StoreError>;

    /// Bytes the store takes on disk, if it knows (for a disk quota).
    fn usage(&self) -> Option<u64> {
        None
    }
}

/// A store in memory, shareable so a test can "crash" a node and start a
/// new one on the same durable state. Writes are durable once `persist`
/// returns, as with a real disk after fsync.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    durable: Arc<Mutex<Recovered>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the durable state.
    pub fn snapshot_state(&self) -> Recovered {
        self.durable.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Applies one batch to an in-memory image, in the documented order.
pub fn apply_batch(d: &mut Recovered, p: &Persist) {
    if let Some(t) = p.truncate_from {
        d.entries.retain(|e| e.index < t);
    }
    if let Some(s) = &p.snapshot {
        d.entries.retain(|e| e.index > s.meta.index);
        d.snapshot = Some(s.clone());
    }
    d.entries.extend(p.entries.iter().cloned());
    if let Some(hs) = p.hard_state {
        d.hard_state = hs;
    }
}

#[async_trait]
impl LogStore for MemStore {
    async fn load(&mut self) -> Result<Recovered, StoreError> {
        Ok(self.snapshot_state())
    }

    async fn persist(&mut self, batches: Vec<Persist>) -> Result<(), StoreError> {
        let mut d = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        for p in &batches {
            apply_batch(&mut d, p);
        }
        Ok(())
    }

    async fn read_entries(&mut self, read: LogRead) -> Result<Vec<Entry>, StoreError> {
        let d = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        let k = d.entries.partition_point(|e| e.index < read.from);
        Ok(read.take(d.entries[k..].iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::id::{LogIndex, Term};
    use synod_core::replica::{Entry, PersistId, Snapshot, SnapshotMeta};

    #[test]
    fn mem_store_applies_batches_in_order_and_shares_state() {
        let e = |i, t| Entry::command(LogIndex(i), Term(t), Bytes::new());
        let mut s = MemStore::new();
        let other = s.clone();
        let b1 = Persist { id: PersistId(1), entries: vec![e(1, 1), e(2, 1), e(3, 1)], ..Default::default() };
        let b2 = Persist {
            id: PersistId(2),
            truncate_from: Some(LogIndex(3)),
            entries: vec![e(3, 2)],
            ..Default::default()
        };
        let snap = Snapshot {
            meta: SnapshotMeta { index: LogIndex(2), term: Term(1), ..Default::default() },
            data: Bytes::new(),
        };
        let b3 = Persist { id: PersistId(3), snapshot: Some(snap.clone()), ..Default::default() };
        futures::executor::block_on(s.persist(vec![b1, b2, b3])).unwrap();
        let r = futures::executor::block_on(s.load()).unwrap();
        assert_eq!(r.entries, vec![e(3, 2)]);
        assert_eq!(r.snapshot, Some(snap));
        assert_eq!(other.snapshot_state(), r, "clones share one durable state");
    }
}
