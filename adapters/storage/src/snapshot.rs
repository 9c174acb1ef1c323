//! Snapshot files. Each is written whole to a temporary file, fsynced,
//! renamed into place and the directory fsynced, all before the log record
//! that references it is written: the record, once durable, is what makes
//! a snapshot current. A crash before that leaves an orphan file that the
//! next open removes, and the old snapshot stays current.
//!
//! ```text
//! "SYNODSNP" | u32 format | u32 n | n bytes snapshot meta | u64 m | m bytes data | u32 CRC32C of all before
//! ```

use crate::dir::{self, snapshot_path, tmp_path};
use crate::error::{corrupt, io, io_or_full};
use crate::meta::FORMAT;
use crate::payload::SnapshotRef;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use synod_core::replica::Snapshot;
use synod_core::service::codec::Reader;
use synod_net::codec::entry::{get_snapshot_meta, put_snapshot_meta};
use synod_net::store::StoreError;

const MAGIC: &[u8; 8] = b"SYNODSNP";

/// Writes `snap` durably as file `id` and returns the reference a log
/// record stores to make it current.
pub(crate) fn write(dir: &Path, handle: &File, id: u64, snap: &Snapshot) -> Result<SnapshotRef, StoreError> {
    let mut meta = BytesMut::new();
    put_snapshot_meta(&mut meta, &snap.meta);
    let mut head = BytesMut::with_capacity(28 + meta.len());
    head.put_slice(MAGIC);
    head.put_u32_le(FORMAT);
    head.put_u32_le(meta.len() as u32);
    head.put_slice(&meta);
    head.put_u64_le(snap.data.len() as u64);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head), &snap.data);

    let path = snapshot_path(dir, id);
    let tmp = tmp_path(&path);
    let mut f = File::create(&tmp).map_err(io_or_full("create", &tmp))?;
    f.write_all(&head).map_err(io_or_full("write", &tmp))?;
    f.write_all(&snap.data).map_err(io_or_full("write", &tmp))?;
    f.write_all(&crc.to_le_bytes()).map_err(io_or_full("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io("rename into place", &path))?;
    dir::sync_dir(handle, dir)?;
    let len = (head.len() + snap.data.len() + 4) as u64;
    Ok(SnapshotRef { meta: snap.meta.clone(), file_id: id, len, crc })
}

/// Removes snapshot file `id` and its temporary file, whichever exist.
pub(crate) fn remove(dir: &Path, id: u64) -> Result<(), StoreError> {
    let path = snapshot_path(dir, id);
    dir::remove(&tmp_path(&path))?;
    dir::remove(&path)
}

/// Reads the snapshot `r` references, checking it is exactly the file the
/// record pinned.
pub(crate) fn read(dir: &Path, r: &SnapshotRef) -> Result<Snapshot, StoreError> {
    let path = snapshot_path(dir, r.file_id);
    let bytes = match fs::read(&path) {
        Ok(b) => Bytes::from(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(&path, 0, "the current snapshot's file is missing"));
        }
        Err(e) => return Err(io("read", &path)(e)),
    };
    if bytes.len() as u64 != r.len {
        return Err(corrupt(&path, 0, format!("snapshot file is {} bytes, the log says {}", bytes.len(), r.len)));
    }
    let body = bytes.len().checked_sub(4).ok_or_else(|| corrupt(&path, 0, "snapshot file too short"))?;
    let crc = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    if crc != r.crc || crc32c::crc32c(&bytes[..body]) != crc {
        return Err(corrupt(&path, 0, "snapshot checksum mismatch"));
    }
    parse(bytes.slice(..body), r).map_err(|reason| corrupt(&path, 0, reason))
}

fn parse(mut b: Bytes, r: &SnapshotRef) -> Result<Snapshot, &'static str> {
    if b.len() < 16 || &b[..8] != MAGIC {
        return Err("not a snapshot file");
    }
    b.advance(8);
    if b.get_u32_le() != FORMAT {
        return Err("unsupported snapshot format version");
    }
    let mut reader = Reader::new(b);
    let meta_bytes = reader.bytes().map_err(|_| "snapshot meta truncated")?;
    let mut mr = Reader::new(meta_bytes);
    let meta = get_snapshot_meta(&mut mr).map_err(|_| "snapshot meta malformed")?;
    mr.finish().map_err(|_| "snapshot meta malformed")?;
    let len = reader.u64().map_err(|_| "snapshot data length truncated")?;
    let data = reader.rest();
    if data.len() as u64 != len {
        return Err("snapshot data length mismatch");
    }
    if meta != r.meta {
        return Err("snapshot meta differs from the log's reference");
    }
    Ok(Snapshot { meta, data })
}
