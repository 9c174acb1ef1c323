//! Encodings of what replicas persist: entries, hard state, snapshot
//! metadata. Shared by the wire codec and the storage adapter.

use super::DecodeError;
use bytes::{BufMut, BytesMut};
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, EntryKind, HardState, Membership, SnapshotMeta};
use synod_core::service::codec::{Reader, put_bytes};

/// Appends an entry: index, term, kind, payload.
pub fn put_entry(b: &mut BytesMut, e: &Entry) {
    b.put_u64_le(e.index.0);
    b.put_u64_le(e.term.0);
    b.put_u8(e.kind as u8);
    put_bytes(b, &e.data);
}

/// Reads an entry; its payload is a slice of the input, not a copy.
pub fn get_entry(r: &mut Reader) -> Result<Entry, DecodeError> {
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let kind = EntryKind::from_u8(r.u8()?).ok_or(DecodeError::BadTag("entry kind"))?;
    let data = r.bytes()?;
    Ok(Entry { index, term, kind, data })
}

/// Bytes [`put_entry`] writes.
pub fn entry_len(e: &Entry) -> usize {
    8 + 8 + 1 + 4 + e.data.len()
}

/// Appends a hard state.
pub fn put_hard_state(b: &mut BytesMut, hs: &HardState) {
    b.put_u64_le(hs.term.0);
    put_opt_node(b, hs.vote);
    b.put_u64_le(hs.commit.0);
}

/// Reads a hard state.
pub fn get_hard_state(r: &mut Reader) -> Result<HardState, DecodeError> {
    Ok(HardState { term: Term(r.u64()?), vote: get_opt_node(r)?, commit: LogIndex(r.u64()?) })
}

/// Appends an optional node id.
pub fn put_opt_node(b: &mut BytesMut, n: Option<NodeId>) {
    match n {
        None => b.put_u8(0),
        Some(id) => {
            b.put_u8(1);
            b.put_u64_le(id.0);
        }
    }
}

/// Reads an optional node id.
pub fn get_opt_node(r: &mut Reader) -> Result<Option<NodeId>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(NodeId(r.u64()?))),
        _ => Err(DecodeError::BadTag("option")),
    }
}

/// Appends snapshot metadata.
pub fn put_snapshot_meta(b: &mut BytesMut, m: &SnapshotMeta) {
    b.put_u64_le(m.index.0);
    b.put_u64_le(m.term.0);
    m.membership.encode_into(b);
}

/// Reads snapshot metadata.
pub fn get_snapshot_meta(r: &mut Reader) -> Result<SnapshotMeta, DecodeError> {
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let membership = get_membership(r)?;
    Ok(SnapshotMeta { index, term, membership })
}

/// Reads a membership (its own length-checked format).
pub fn get_membership(r: &mut Reader) -> Result<Membership, DecodeError> {
    let mut rest = r.rest();
    let m = Membership::decode(&mut rest).map_err(|_| DecodeError::Malformed("membership"))?;
    *r = Reader::new(rest);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn entries_and_state_round_trip_and_reject_truncation() {
        let e = Entry::command(LogIndex(7), Term(3), Bytes::from_static(b"payload"));
        let hs = HardState { term: Term(9), vote: Some(NodeId(2)), commit: LogIndex(5) };
        let meta = SnapshotMeta {
            index: LogIndex(4),
            term: Term(2),
            membership: Membership::voters_only([NodeId(1), NodeId(2)]).unwrap(),
        };
        let mut b = BytesMut::new();
        put_entry(&mut b, &e);
        assert_eq!(b.len(), entry_len(&e));
        put_hard_state(&mut b, &hs);
        put_snapshot_meta(&mut b, &meta);
        let all = b.freeze();
        let mut r = Reader::new(all.clone());
        assert_eq!(get_entry(&mut r).unwrap(), e);
        assert_eq!(get_hard_state(&mut r).unwrap(), hs);
        assert_eq!(get_snapshot_meta(&mut r).unwrap(), meta);
        r.finish().unwrap();
        for cut in 0..all.len() {
            let mut r = Reader::new(all.slice(..cut));
            let res = get_entry(&mut r).and_then(|_| get_hard_state(&mut r)).and_then(|_| get_snapshot_meta(&mut r));
            assert!(res.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_entry_kind_is_an_error() {
        let mut b = BytesMut::new();
        put_entry(&mut b, &Entry::noop(LogIndex(1), Term(1)));
        let mut raw = b.to_vec();
        raw[16] = 99;
        assert_eq!(get_entry(&mut Reader::new(Bytes::from(raw))), Err(DecodeError::BadTag("entry kind")));
    }
}
