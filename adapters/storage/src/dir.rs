//! The data directory's layout: which file is which, and the fsync of the
//! directory itself that makes creations, renames and deletions durable.
//!
//! ```text
//! IDENTITY                     cluster id and node id (meta.rs)
//! LOCK                         held (flock) while a store is open
//! 00000000000000000001.wal     log segments, numbered from 1, contiguous
//! 00000000000000000007.snap    snapshots, named by id; only the current
//!                              one survives an open
//! *.tmp                        half-written files, removed on open
//! ```

use crate::error::{io, io_or_full};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use synod_net::store::StoreError;

/// Name of the identity file.
pub(crate) const IDENTITY: &str = "IDENTITY";
/// Name of the lock file.
pub(crate) const LOCK: &str = "LOCK";

const SEGMENT_EXT: &str = "wal";
const SNAPSHOT_EXT: &str = "snap";
const TMP_EXT: &str = "tmp";

/// Path of segment `seq`.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{SEGMENT_EXT}"))
}

/// Path of snapshot file `id`.
pub(crate) fn snapshot_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{SNAPSHOT_EXT}"))
}

/// Where a file is written before it is renamed to `path`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(TMP_EXT);
    path.with_file_name(name)
}

/// What a directory holds, by kind, sorted by number.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<u64>,
    pub snapshots: Vec<u64>,
    pub tmp: Vec<PathBuf>,
}

/// Lists `dir`. Files it does not recognise are left alone.
pub(crate) fn list(dir: &Path) -> Result<Listing, StoreError> {
    let mut l = Listing::default();
    for ent in fs::read_dir(dir).map_err(io("list data directory", dir))? {
        let ent = ent.map_err(io("list data directory", dir))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.split_once('.') else { continue };
        if name.ends_with(&format!(".{TMP_EXT}")) {
            l.tmp.push(ent.path());
            continue;
        }
        let number = (stem.len() == 20).then(|| stem.parse::<u64>().ok()).flatten();
        match (number, ext) {
            (Some(n), SEGMENT_EXT) => l.segments.push(n),
            (Some(n), SNAPSHOT_EXT) => l.snapshots.push(n),
            _ => {}
        }
    }
    l.segments.sort_unstable();
    l.snapshots.sort_unstable();
    Ok(l)
}

/// Opens the directory, to sync its entries through: a store holds it open
/// for its life, so that no sync ever needs a new file descriptor.
pub(crate) fn open_dir(dir: &Path) -> Result<File, StoreError> {
    File::open(dir).map_err(io_or_full("open data directory", dir))
}

/// Makes the directory's entries (created, renamed, removed files) durable,
/// through `handle`, the directory `dir` open.
pub(crate) fn sync_dir(handle: &File, dir: &Path) -> Result<(), StoreError> {
    handle.sync_all().map_err(io("fsync data directory", dir))
}

/// Removes `path`; a file already gone is fine.
pub(crate) fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` all or nothing: a temporary file, fsynced,
/// renamed over `path`, and the directory fsynced.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(io("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    sync_dir(&open_dir(dir)?, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_number_and_parse_back() {
        let dir = Path::new("/d");
        assert_eq!(segment_path(dir, 12), Path::new("/d/00000000000000000012.wal"));
        assert_eq!(snapshot_path(dir, 3), Path::new("/d/00000000000000000003.snap"));
        assert_eq!(tmp_path(&snapshot_path(dir, 3)), Path::new("/d/00000000000000000003.snap.tmp"));
        assert!(segment_path(dir, 9) < segment_path(dir, 10));
    }
}
