//! Building [`StoreError`]s with the operation and the file named.

use std::io;
use std::path::Path;
use synod_net::store::StoreError;

/// Wraps an I/O error with what was being done, and to which path.
pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
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
