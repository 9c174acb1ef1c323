//! # synod-storage
//!
//! The on-disk [`LogStore`](synod_net::store::LogStore) for synod: a
//! segmented write-ahead log with group commit, and snapshots.
//!
//! - **One record per [`Persist`](synod_core::replica::Persist) batch**, so
//!   a batch (truncation, snapshot reference, entries, hard state) is
//!   atomic, and recovery yields a prefix of the batch sequence.
//! - **Group commit**: [`persist`](synod_net::store::LogStore::persist)
//!   writes all its batches, then issues one `fdatasync`.
//! - **Records** are framed as length, CRC32C of the payload, and a CRC32C of
//!   those two fields (layout below). On open, a torn last record is cut
//!   off; damage anywhere else is [`StoreError::Corrupt`] naming the file and
//!   offset. Nothing that `persist` reported durable is ever dropped, and
//!   every repair is logged and listed ([`Storage::repairs`]).
//! - **Segments** roll at [`StorageConfig::segment_bytes`]; each opens with a
//!   checkpoint of the hard state and current snapshot, so segments whose
//!   entries a snapshot covers can be deleted.
//! - **Snapshots** go to their own file (temporary file, fsync, rename,
//!   directory fsync) before the record that makes them current is written;
//!   an orphan from a crash in between is removed on open.
//! - **Any runtime**: the blocking I/O runs on a thread the store owns,
//!   reached through `futures` channels.
//! - **Identity**: the directory remembers its cluster and node id and
//!   refuses to open for another ([`StoreError::WrongCluster`],
//!   [`StoreError::WrongNode`]). It is written once the log's first record
//!   is durable, so a directory with an identity and no log has lost it and
//!   is refused ([`StoreError::LogLost`]): the node would have forgotten
//!   its votes.
//!
//! ## On disk
//!
//! ```text
//! IDENTITY                    "SYNODID\0" | u32 format | u64 node | u32 n | cluster id | u32 crc32c
//! LOCK                        flock'd while a store has the directory open
//! 00000000000000000001.wal    segments, numbered from 1 and contiguous; each a run of records:
//!     u32 len | u32 crc32c(payload) | u32 crc32c(len, crc) | payload
//!     payload: checkpoint (first in every segment) or batch, see below
//! 00000000000000000007.snap   the current snapshot, named by id:
//!     "SYNODSNP" | u32 format | u32 n | snapshot meta | u64 m | data | u32 crc32c
//! *.tmp                       half-written files, removed on open
//!
//! batch:        u8 1 | u8 flags | [u64 truncate_from] | [snapshot ref] | [hard state] | u32 k | k × entry
//! checkpoint:   u8 2 | u64 segment | hard state | u8 has_snapshot | [snapshot ref]
//! snapshot ref: snapshot meta | u64 file id | u64 file length | u32 file crc32c
//! ```
//!
//! Entries, hard state and snapshot meta use the encodings of
//! `synod_net::codec::entry`; integers are little-endian.
//!
//! ## Example
//!
//! ```
//! use bytes::Bytes;
//! use futures::executor::block_on;
//! use synod_core::id::{LogIndex, NodeId, Term};
//! use synod_core::replica::{Entry, HardState, Persist, PersistId};
//! use synod_net::store::LogStore;
//! use synod_storage::{Storage, StorageConfig};
//!
//! # let tmp = std::env::temp_dir().join(format!("synod-storage-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&tmp);
//! let config = StorageConfig { segment_bytes: 1 << 20, ..StorageConfig::new("my-cluster", NodeId(1)) };
//! let mut store = Storage::open(&tmp, config.clone())?;
//! assert_eq!(block_on(store.load())?.entries, vec![]);
//!
//! // What a replica hands out to persist: entries and a hard state. Both
//! // batches are written, then synced once.
//! let e = |i| Entry::command(LogIndex(i), Term(1), Bytes::from_static(b"set x 1"));
//! let hs = HardState { term: Term(1), vote: Some(NodeId(1)), commit: LogIndex(1) };
//! block_on(store.persist(vec![
//!     Persist { id: PersistId(1), entries: vec![e(1), e(2)], ..Default::default() },
//!     Persist { id: PersistId(2), hard_state: Some(hs), ..Default::default() },
//! ]))?;
//! // Durable now: report PersistId(2) to the replica.
//!
//! drop(store);
//! let mut store = Storage::open(&tmp, config)?;
//! let recovered = block_on(store.load())?;
//! assert_eq!(recovered.entries, vec![e(1), e(2)]);
//! assert_eq!(recovered.hard_state, hs);
//!
//! // Another node's directory is refused.
//! drop(store);
//! let err = Storage::open(&tmp, StorageConfig::new("my-cluster", NodeId(2))).unwrap_err();
//! assert!(matches!(err, synod_net::store::StoreError::WrongNode { .. }));
//! # std::fs::remove_dir_all(&tmp).unwrap();
//! # Ok::<(), synod_net::store::StoreError>(())
//! ```

#![forbid(unsafe_code)]

mod dir;
mod error;
mod live;
mod meta;
mod payload;
mod places;
mod record;
mod recovery;
mod repair;
mod segment;
mod snapshot;
mod store;
mod wal;

pub use repair::Repair;
pub use store::Storage;
pub use synod_net::store::StoreError;

use synod_core::id::NodeId;

/// How a [`Storage`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// The cluster this node belongs to; the data directory is refused to
    /// any other.
    pub cluster_id: String,
    /// This node; the data directory is refused to any other.
    pub node_id: NodeId,
    /// A segment is sealed and the next one started before a record would
    /// take it past this many bytes (a record larger than this gets a
    /// segment of its own). Default 64 MiB.
    pub segment_bytes: u64,
    /// The largest record, header included, that
    /// [`persist`](synod_net::store::LogStore::persist) accepts; a batch
    /// that would encode larger is [`StoreError::TooLarge`]. Snapshot data
    /// is stored in its own file and does not count. Default 64 MiB; at
    /// most 4 GiB.
    pub max_record_bytes: usize,
}

impl StorageConfig {
    /// Defaults for `node_id` of `cluster_id`.
    pub fn new(cluster_id: impl Into<String>, node_id: NodeId) -> Self {
        StorageConfig { cluster_id: cluster_id.into(), node_id, segment_bytes: 64 << 20, max_record_bytes: 64 << 20 }
    }

    fn normalized(mut self) -> Self {
        // A record's length field is 32 bits.
        self.max_record_bytes = self.max_record_bytes.min(u32::MAX as usize);
        self
    }
}
