//! One segment file: a run of framed records ([`record`](crate::record))
//! that opens with a checkpoint. Only the last segment is ever written;
//! older ones are sealed (fsynced before the next one is created) and only
//! read or deleted.

use crate::dir::{self, segment_path};
use crate::error::{io, io_or_full};
use bytes::Bytes;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use synod_net::store::StoreError;

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct Active {
    /// Its number.
    pub seq: u64,
    /// Bytes written to it so far.
    pub len: u64,
    /// Batch records in it (the checkpoint not counted).
    pub batches: usize,
    path: PathBuf,
    file: File,
}

impl Active {
    /// Creates segment `seq`, empty, and makes its directory entry durable.
    /// The caller writes its checkpoint first.
    pub(crate) fn create(dir: &Path, handle: &File, seq: u64) -> Result<Active, StoreError> {
        let path = segment_path(dir, seq);
        let file =
            OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_or_full("create segment", &path))?;
        dir::sync_dir(handle, dir)?;
        Ok(Active { seq, len: 0, batches: 0, path, file })
    }

    /// Reopens segment `seq` to append after its first `len` bytes, cutting
    /// off (durably) whatever torn record follows them.
    pub(crate) fn resume(dir: &Path, seq: u64, len: u64, batches: usize) -> Result<Active, StoreError> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new().write(true).open(&path).map_err(io_or_full("open segment", &path))?;
        let on_disk = file.metadata().map_err(io("stat segment", &path))?.len();
        if on_disk != len {
            file.set_len(len).map_err(io("truncate torn tail of", &path))?;
            file.sync_all().map_err(io("fsync", &path))?;
        }
        file.seek(SeekFrom::Start(len)).map_err(io("seek", &path))?;
        Ok(Active { seq, len, batches, path, file })
    }

    /// Appends `bytes` (not yet durable). On an error some of them may
    /// have been written: [`Active::rewind`] cuts them off.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(bytes).map_err(io_or_full("write segment", &self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the segment back to its first `len` bytes, durably, and appends
    /// after them from now on: undoes writes that were never reported
    /// durable.
    pub(crate) fn rewind(&mut self, len: u64, batches: usize) -> Result<(), StoreError> {
        self.file.set_len(len).map_err(io("truncate", &self.path))?;
        self.file.sync_data().map_err(io("fdatasync segment", &self.path))?;
        self.file.seek(SeekFrom::Start(len)).map_err(io("seek", &self.path))?;
        self.len = len;
        self.batches = batches;
        Ok(())
    }

    /// Makes everything written durable.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io("fdatasync segment", &self.path))
    }
}

/// Reads segment `seq` whole.
pub(crate) fn read(dir: &Path, seq: u64) -> Result<Bytes, StoreError> {
    let path = segment_path(dir, seq);
    fs::read(&path).map(Bytes::from).map_err(io("read segment", &path))
}
