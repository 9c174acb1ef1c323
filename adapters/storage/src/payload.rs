//! What a record holds: one [`Persist`] batch, or the checkpoint that opens
//! every segment. Entries, hard state and snapshot metadata use the shared
//! encodings of `synod_net::codec::entry`.
//!
//! ```text
//! batch:      u8 1 | u8 flags | [u64 truncate_from] | [snapshot ref]
//!             | [hard state] | u32 count | count × entry
//! checkpoint: u8 2 | u64 segment | hard state | u8 has_snapshot | [snapshot ref]
//! snapshot ref: snapshot meta | u64 file id | u64 file length | u32 file CRC32C
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use synod_core::id::LogIndex;
use synod_core::replica::{Entry, HardState, Persist, SnapshotMeta};
use synod_core::service::codec::Reader;
use synod_net::codec::DecodeError;
use synod_net::codec::entry::{
    get_entry, get_hard_state, get_snapshot_meta, put_entry, put_hard_state, put_snapshot_meta,
};

const BATCH: u8 = 1;
const CHECKPOINT: u8 = 2;

const HAS_TRUNCATE: u8 = 1;
const HAS_SNAPSHOT: u8 = 2;
const HAS_HARD_STATE: u8 = 4;

/// The smallest encoded entry, bounding how many a payload can claim.
const MIN_ENTRY: usize = 8 + 8 + 1 + 4;

/// Names the snapshot file a record made current, and pins its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotRef {
    /// Where the snapshot sits in the log.
    pub meta: SnapshotMeta,
    /// The file's id (its name).
    pub file_id: u64,
    /// The file's length.
    pub len: u64,
    /// The CRC32C the file ends with.
    pub crc: u32,
}

/// A decoded batch record.
#[derive(Debug)]
pub(crate) struct Batch {
    pub truncate_from: Option<LogIndex>,
    pub snapshot: Option<SnapshotRef>,
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

/// The state a segment starts from: hard state and snapshot as of the
/// segment's first byte, so older segments can be deleted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub segment: u64,
    pub hard_state: HardState,
    pub snapshot: Option<SnapshotRef>,
}

/// A decoded record.
#[derive(Debug)]
pub(crate) enum Record {
    Batch(Batch),
    Checkpoint(Checkpoint),
}

/// Appends the payload of a batch record; `snapshot` references the file
/// holding `p.snapshot`'s data.
pub(crate) fn put_batch(b: &mut BytesMut, p: &Persist, snapshot: Option<&SnapshotRef>) {
    b.put_u8(BATCH);
    let flags = p.truncate_from.map_or(0, |_| HAS_TRUNCATE)
        | snapshot.map_or(0, |_| HAS_SNAPSHOT)
        | p.hard_state.map_or(0, |_| HAS_HARD_STATE);
    b.put_u8(flags);
    if let Some(t) = p.truncate_from {
        b.put_u64_le(t.0);
    }
    if let Some(s) = snapshot {
        put_snapshot_ref(b, s);
    }
    if let Some(hs) = &p.hard_state {
        put_hard_state(b, hs);
    }
    b.put_u32_le(p.entries.len() as u32);
    for e in &p.entries {
        put_entry(b, e);
    }
}

/// Appends the payload of a checkpoint record.
pub(crate) fn put_checkpoint(b: &mut BytesMut, c: &Checkpoint) {
    b.put_u8(CHECKPOINT);
    b.put_u64_le(c.segment);
    put_hard_state(b, &c.hard_state);
    match &c.snapshot {
        None => b.put_u8(0),
        Some(s) => {
            b.put_u8(1);
            put_snapshot_ref(b, s);
        }
    }
}

fn put_snapshot_ref(b: &mut BytesMut, s: &SnapshotRef) {
    put_snapshot_meta(b, &s.meta);
    b.put_u64_le(s.file_id);
    b.put_u64_le(s.len);
    b.put_u32_le(s.crc);
}

fn get_snapshot_ref(r: &mut Reader) -> Result<SnapshotRef, DecodeError> {
    let meta = get_snapshot_meta(r)?;
    Ok(SnapshotRef { meta, file_id: r.u64()?, len: r.u64()?, crc: r.u32()? })
}

/// Decodes a record payload; entry payloads are slices of `buf`.
pub(crate) fn decode(buf: Bytes) -> Result<Record, DecodeError> {
    let mut r = Reader::new(buf);
    let rec = match r.u8()? {
        BATCH => {
            let flags = r.u8()?;
            if flags & !(HAS_TRUNCATE | HAS_SNAPSHOT | HAS_HARD_STATE) != 0 {
                return Err(DecodeError::BadTag("batch flags"));
            }
            let truncate_from = if flags & HAS_TRUNCATE != 0 { Some(LogIndex(r.u64()?)) } else { None };
            let snapshot = if flags & HAS_SNAPSHOT != 0 { Some(get_snapshot_ref(&mut r)?) } else { None };
            let hard_state = if flags & HAS_HARD_STATE != 0 { Some(get_hard_state(&mut r)?) } else { None };
            let count = r.u32()? as usize;
            if count > r.remaining() / MIN_ENTRY {
                return Err(DecodeError::Malformed("entry count"));
            }
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                entries.push(get_entry(&mut r)?);
            }
            Record::Batch(Batch { truncate_from, snapshot, entries, hard_state })
        }
        CHECKPOINT => {
            let segment = r.u64()?;
            let hard_state = get_hard_state(&mut r)?;
            let snapshot = match r.u8()? {
                0 => None,
                1 => Some(get_snapshot_ref(&mut r)?),
                _ => return Err(DecodeError::BadTag("option")),
            };
            Record::Checkpoint(Checkpoint { segment, hard_state, snapshot })
        }
        _ => return Err(DecodeError::BadTag("record kind")),
    };
    r.finish()?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::id::{NodeId, Term};
    use synod_core::replica::{Membership, PersistId};

    fn snap_ref() -> SnapshotRef {
        let meta = SnapshotMeta {
            index: LogIndex(9),
            term: Term(2),
            membership: Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap(),
        };
        SnapshotRef { meta, file_id: 4, len: 100, crc: 0xdead_beef }
    }

    #[test]
    fn batches_round_trip() {
        let p = Persist {
            id: PersistId(1),
            snapshot: None,
            truncate_from: Some(LogIndex(10)),
            entries: vec![
                Entry::command(LogIndex(10), Term(3), Bytes::from_static(b"x")),
                Entry::noop(LogIndex(11), Term(3)),
            ],
            hard_state: Some(HardState { term: Term(3), vote: Some(NodeId(2)), commit: LogIndex(8) }),
        };
        let mut out = BytesMut::new();
        put_batch(&mut out, &p, Some(&snap_ref()));
        let Record::Batch(b) = decode(out.clone().freeze()).unwrap() else { panic!("not a batch") };
        assert_eq!(b.truncate_from, p.truncate_from);
        assert_eq!(b.snapshot, Some(snap_ref()));
        assert_eq!(b.entries, p.entries);
        assert_eq!(b.hard_state, p.hard_state);
        for cut in 0..out.len() {
            assert!(decode(Bytes::copy_from_slice(&out[..cut])).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn checkpoints_round_trip() {
        for snapshot in [None, Some(snap_ref())] {
            let c = Checkpoint { segment: 7, hard_state: HardState::default(), snapshot };
            let mut out = BytesMut::new();
            put_checkpoint(&mut out, &c);
            let Record::Checkpoint(got) = decode(out.freeze()).unwrap() else { panic!("not a checkpoint") };
            assert_eq!(got, c);
        }
    }

    #[test]
    fn unknown_kinds_and_flags_are_refused() {
        assert_eq!(decode(Bytes::from_static(&[9])).unwrap_err(), DecodeError::BadTag("record kind"));
        assert_eq!(decode(Bytes::from_static(&[BATCH, 0x80])).unwrap_err(), DecodeError::BadTag("batch flags"));
        // A count no payload of this size could hold is refused before allocating.
        let huge = [BATCH, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode(Bytes::copy_from_slice(&huge)).unwrap_err(), DecodeError::Malformed("entry count"));
    }
}
