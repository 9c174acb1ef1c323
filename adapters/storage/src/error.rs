//! Building [`StoreError`]s with the operation and the file named.

use std::io;
use std::path::Path;
use synod_net::store::StoreError;

/// Wraps an I/O error with what was being done, and to which path.
pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// Like [`io`] for a call that creates or writes but does not sync: a
/// shortage of room — the file system full (ENOSPC), a disk quota
/// (EDQUOT), no file descriptor left (EMFILE, ENFILE) — is
/// [`StoreError::Exhausted`], which the write-ahead log can undo and the
/// node retry. A failed sync is never that: once fsync has failed, what the
/// kernel kept is unknown (PostgreSQL's lesson), so sync errors go through
/// [`io`] and poison the store.
pub(crate) fn io_or_full<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| {
        // EMFILE and ENFILE have no ErrorKind; their numbers are the same
        // on Linux and the BSDs.
        const ENFILE: i32 = 23;
        const EMFILE: i32 = 24;
        let full = matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
            || matches!(source.raw_os_error(), Some(ENFILE | EMFILE));
        let path = path.to_path_buf();
        if full { StoreError::Exhausted { op, path, source } } else { StoreError::Io { op, path, source } }
    }
}

/// Damage found in `file` at `offset`.
pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { file: file.to_path_buf(), offset, reason: reason.into() }
}

/// The error every call returns once a write has failed part-way: the
/// active segment may end in a partial record, and appending after it
/// would bury it in the middle of the log.
pub(crate) fn poisoned(dir: &Path) -> StoreError {
    StoreError::Io {
        op: "write to a store that failed an earlier write (reopen it to recover)",
        path: dir.to_path_buf(),
        source: io::Error::other("store poisoned by an earlier failed write"),
    }
}
