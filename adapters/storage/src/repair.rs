//! What opening a data directory cut away or removed. Recovery never
//! shortens the log silently: every repair is logged (`tracing::warn!`)
//! and returned by [`Storage::repairs`](crate::Storage::repairs), so an
//! operator can tell a crash's torn write from a disk that is losing data.

use crate::dir::{Listing, segment_path, snapshot_path};
use crate::error::io;
use crate::recovery::Scan;
use core::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use synod_core::id::LogIndex;
use synod_net::store::StoreError;

/// One thing recovery discarded on open. Only what no durable record
/// needs is ever discarded: writes a crash cut short, and files written
/// for records that never became durable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// The last segment ended in a torn record (a write a crash cut
    /// short); the segment was cut back to its last whole record.
    TornTail {
        /// The segment file.
        segment: PathBuf,
        /// Where the torn record started: the segment's new length.
        offset: u64,
        /// Bytes cut off.
        discarded: u64,
        /// The last log index recovered (the snapshot's, or 0, if no
        /// entry follows it).
        last_index: LogIndex,
    },
    /// The last segment held no whole record: it was created just before
    /// a crash, and was removed.
    EmptySegment {
        /// The segment file.
        segment: PathBuf,
        /// Bytes it held.
        discarded: u64,
        /// The last log index recovered.
        last_index: LogIndex,
    },
    /// A snapshot file that no durable record made current (a crash came
    /// between writing it and writing its record) was removed.
    OrphanSnapshot {
        /// The snapshot file.
        file: PathBuf,
        /// Bytes it held.
        discarded: u64,
    },
    /// A half-written temporary file was removed.
    TempFile {
        /// The file.
        file: PathBuf,
        /// Bytes it held.
        discarded: u64,
    },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::TornTail { segment, offset, discarded, last_index } => write!(
                f,
                "cut a torn record off {}: {discarded} bytes from offset {offset}; the log ends at index {}",
                segment.display(),
                last_index.0
            ),
            Repair::EmptySegment { segment, discarded, last_index } => write!(
                f,
                "removed {}, created just before a crash and holding no whole record ({discarded} bytes); the log \
                 ends at index {}",
                segment.display(),
                last_index.0
            ),
            Repair::OrphanSnapshot { file, discarded } => write!(
                f,
                "removed snapshot file {} ({discarded} bytes): the record that would have made it current never \
                 became durable",
                file.display()
            ),
            Repair::TempFile { file, discarded } => {
                write!(f, "removed half-written file {} ({discarded} bytes)", file.display())
            }
        }
    }
}

impl Repair {
    /// The file this repair removes, if it removes one (a torn tail is
    /// cut, not removed).
    pub(crate) fn removed_file(&self) -> Option<&Path> {
        match self {
            Repair::TornTail { .. } => None,
            Repair::EmptySegment { segment, .. } => Some(segment),
            Repair::OrphanSnapshot { file, .. } | Repair::TempFile { file, .. } => Some(file),
        }
    }

    /// Logs the repair as a warning: each one is data that was on disk
    /// and is about to go.
    pub(crate) fn log(&self) {
        match self {
            Repair::TornTail { segment, offset, discarded, last_index } => tracing::warn!(
                segment = %segment.display(), offset, discarded, last_index = last_index.0,
                "write-ahead log recovery: cutting a torn record off the last segment"
            ),
            Repair::EmptySegment { segment, discarded, last_index } => tracing::warn!(
                segment = %segment.display(), discarded, last_index = last_index.0,
                "write-ahead log recovery: removing a last segment that holds no whole record"
            ),
            Repair::OrphanSnapshot { file, discarded } => tracing::warn!(
                file = %file.display(), discarded,
                "write-ahead log recovery: removing a snapshot file no durable record references"
            ),
            Repair::TempFile { file, discarded } => tracing::warn!(
                file = %file.display(), discarded,
                "write-ahead log recovery: removing a half-written temporary file"
            ),
        }
    }
}

/// Everything recovery of `listing`, read as `scan`, will discard, in the
/// order it is done. Nothing is changed here.
pub(crate) fn plan(dir: &Path, listing: &Listing, scan: &Scan) -> Result<Vec<Repair>, StoreError> {
    let len = |path: &Path| fs::metadata(path).map(|m| m.len()).map_err(io("stat", path));
    let last_index = scan.last_index();
    let mut out = Vec::new();
    for file in &listing.tmp {
        out.push(Repair::TempFile { discarded: len(file)?, file: file.clone() });
    }
    let current = scan.state.snapshot.as_ref().map(|r| r.file_id);
    for &id in listing.snapshots.iter().filter(|&&id| Some(id) != current) {
        let file = snapshot_path(dir, id);
        out.push(Repair::OrphanSnapshot { discarded: len(&file)?, file });
    }
    if let Some(seq) = scan.empty_tail {
        let segment = segment_path(dir, seq);
        out.push(Repair::EmptySegment { discarded: len(&segment)?, segment, last_index });
    }
    if let Some(last) = scan.segments.last() {
        let segment = segment_path(dir, last.seq);
        let on_disk = len(&segment)?;
        if on_disk > last.len {
            out.push(Repair::TornTail { segment, offset: last.len, discarded: on_disk - last.len, last_index });
        }
    }
    Ok(out)
}
