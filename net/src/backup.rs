//! The backup file: a snapshot of a live node's service state, with the
//! index, term and configuration it covers, checksummed.
//!
//! A node produces it after a linearizable read (so it holds every write
//! acknowledged before the request) and `synod snapshot save` stores it
//! as is; `synod snapshot restore` and `synod recover` seed new data
//! directories from it. Every field is checked before it is trusted: a
//! file that is cut short, damaged anywhere, or of another format is a
//! [`BackupError`], never a panic or a silent partial restore.
//!
//! ```text
//! "SYNODBAK" | u32 format | snapshot meta | u64 m | m bytes of service state | u32 CRC32C of all before
//! ```
//!
//! Snapshot meta (index, term, configuration) uses the encoding of
//! [`crate::codec::entry::put_snapshot_meta`]; integers are little-endian.

use crate::codec::entry::{get_snapshot_meta, put_snapshot_meta};
use bytes::{BufMut, Bytes, BytesMut};
use synod_core::replica::Snapshot;
use synod_core::service::codec::Reader;

const MAGIC: &[u8; 8] = b"SYNODBAK";

/// The backup format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Why bytes are not a usable backup.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// Shorter than any backup.
    #[error("too short to be a synod backup ({0} bytes)")]
    TooShort(usize),
    /// Not a synod backup file at all.
    #[error("not a synod backup file")]
    NotABackup,
    /// A format this build does not read.
    #[error("backup format {0} (this build reads format {FORMAT})")]
    Format(u32),
    /// Damaged: the checksum does not match.
    #[error("backup checksum mismatch: the file is damaged or cut short")]
    Checksum,
    /// The checksum matches but a field does not parse.
    #[error("malformed backup: {0}")]
    Malformed(&'static str),
}

/// Encodes `snap` as a backup file.
pub fn encode(snap: &Snapshot) -> Bytes {
    let mut b = BytesMut::with_capacity(64 + snap.data.len());
    b.put_slice(MAGIC);
    b.put_u32_le(FORMAT);
    put_snapshot_meta(&mut b, &snap.meta);
    b.put_u64_le(snap.data.len() as u64);
    b.put_slice(&snap.data);
    let crc = crc32c::crc32c(&b);
    b.put_u32_le(crc);
    b.freeze()
}

/// Decodes and checks a backup file. The service state is a slice of
/// `file`, not a copy.
pub fn decode(file: Bytes) -> Result<Snapshot, BackupError> {
    if file.len() < MAGIC.len() + 4 + 4 {
        return Err(BackupError::TooShort(file.len()));
    }
    if &file[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(BackupError::Format(format));
    }
    let body = file.len() - 4;
    let crc = u32::from_le_bytes(file[body..].try_into().expect("4 bytes"));
    if crc32c::crc32c(&file[..body]) != crc {
        return Err(BackupError::Checksum);
    }
    let mut r = Reader::new(file.slice(12..body));
    let meta = get_snapshot_meta(&mut r).map_err(|_| BackupError::Malformed("snapshot meta"))?;
    let len = r.u64().map_err(|_| BackupError::Malformed("state length"))?;
    let data = r.rest();
    if data.len() as u64 != len {
        return Err(BackupError::Malformed("state length does not match the file"));
    }
    Ok(Snapshot { meta, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::id::{LogIndex, NodeId, Term};
    use synod_core::replica::{Membership, SnapshotMeta};

    fn sample() -> Snapshot {
        let membership = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)])
            .unwrap()
            .with_addresses([(NodeId(1), Bytes::from_static(b"10.0.0.1:7101"))])
            .unwrap();
        Snapshot {
            meta: SnapshotMeta { index: LogIndex(1234), term: Term(7), membership },
            data: Bytes::from_static(b"the service's state"),
        }
    }

    #[test]
    fn a_backup_round_trips() {
        let s = sample();
        assert_eq!(decode(encode(&s)), Ok(s.clone()));
        let empty_state = Snapshot { data: Bytes::new(), ..s };
        assert_eq!(decode(encode(&empty_state)), Ok(empty_state));
    }

    /// Every single-bit flip and every truncation is refused: a damaged
    /// backup must never restore as a different state.
    #[test]
    fn every_damage_and_every_cut_is_refused() {
        let b = encode(&sample());
        for i in 0..b.len() {
            for bit in [0x01, 0x80] {
                let mut bad = b.to_vec();
                bad[i] ^= bit;
                assert!(decode(Bytes::from(bad)).is_err(), "byte {i} bit {bit:#x}");
            }
        }
        for cut in 0..b.len() {
            assert!(decode(b.slice(..cut)).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn other_files_and_formats_are_named() {
        assert_eq!(decode(Bytes::from_static(b"SYNODSNP\x01\0\0\0\0\0\0\0")), Err(BackupError::NotABackup));
        let mut b = encode(&sample()).to_vec();
        b[8] = 9;
        assert_eq!(decode(Bytes::from(b)), Err(BackupError::Format(9)));
        assert_eq!(decode(Bytes::from_static(b"SYNOD")), Err(BackupError::TooShort(5)));
    }
}
