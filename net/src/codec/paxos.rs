//! Multi-Paxos messages on the wire: `[ballot round u64][ballot node u64]
//! [u8 tag][body]`, little-endian; entries as in [`super::entry`].

use super::DecodeError;
use super::entry::{entry_len, get_entry, get_snapshot_meta, put_entry, put_snapshot_meta};
use super::raft::get_bool;
use bytes::{BufMut, BytesMut};
use synod_core::id::{Ballot, LogIndex, NodeId};
use synod_core::paxos::multi::{
    Accept, Accepted, Body, Heartbeat, HeartbeatResponse, Message, Nack, NackReason, Prepare, Promise, SnapshotChunk,
    SnapshotResponse,
};
use synod_core::replica::Entry;
use synod_core::service::codec::{Reader, put_bytes};

const PREPARE: u8 = 1;
const PROMISE: u8 = 2;
const NACK: u8 = 3;
const ACCEPT: u8 = 4;
const ACCEPTED: u8 = 5;
const HEARTBEAT: u8 = 6;
const HEARTBEAT_RESPONSE: u8 = 7;
const SNAPSHOT: u8 = 8;
const SNAPSHOT_RESPONSE: u8 = 9;
/// A prepare with a transfer ballot: a tag of its own, so a plain
/// prepare's encoding is unchanged.
const PREPARE_TRANSFER: u8 = 10;
const TIMEOUT_NOW: u8 = 11;

/// The smallest encoded entry: index, term, kind and an empty payload.
const MIN_ENTRY: usize = 8 + 8 + 1 + 4;

fn put_ballot(b: &mut BytesMut, ballot: Ballot) {
    b.put_u64_le(ballot.round);
    b.put_u64_le(ballot.node.0);
}

fn get_ballot(r: &mut Reader) -> Result<Ballot, DecodeError> {
    Ok(Ballot::new(r.u64()?, NodeId(r.u64()?)))
}

fn put_entries(b: &mut BytesMut, entries: &[Entry]) {
    b.put_u32_le(entries.len() as u32);
    for e in entries {
        put_entry(b, e);
    }
}

fn get_entries(r: &mut Reader) -> Result<Vec<Entry>, DecodeError> {
    let n = r.u32()? as usize;
    // Bound the allocation by the bytes present, not by the claimed count.
    if r.remaining() / MIN_ENTRY < n {
        return Err(DecodeError::Truncated("entry count"));
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        entries.push(get_entry(r)?);
    }
    Ok(entries)
}

/// Appends a Multi-Paxos message.
pub fn put(b: &mut BytesMut, m: &Message) {
    put_ballot(b, m.ballot);
    match &m.body {
        Body::Prepare(p) => {
            b.put_u8(if p.transfer.is_some() { PREPARE_TRANSFER } else { PREPARE });
            b.put_u64_le(p.commit.0);
            if let Some(from) = p.transfer {
                put_ballot(b, from);
            }
        }
        Body::TimeoutNow => b.put_u8(TIMEOUT_NOW),
        Body::Promise(p) => {
            b.put_u8(PROMISE);
            b.put_u64_le(p.commit.0);
            put_entries(b, &p.entries);
        }
        Body::Nack(n) => {
            b.put_u8(NACK);
            put_ballot(b, n.promised);
            b.put_u8(n.reason as u8);
        }
        Body::Accept(a) => {
            b.put_u8(ACCEPT);
            b.put_u64_le(a.commit.0);
            put_entries(b, &a.entries);
        }
        Body::Accepted(a) => {
            b.put_u8(ACCEPTED);
            b.put_u64_le(a.match_index.0);
        }
        Body::Heartbeat(h) => {
            b.put_u8(HEARTBEAT);
            b.put_u64_le(h.commit.0);
            b.put_u64_le(h.read_round);
        }
        Body::HeartbeatResponse(h) => {
            b.put_u8(HEARTBEAT_RESPONSE);
            b.put_u64_le(h.read_round);
            b.put_u64_le(h.match_index.0);
        }
        Body::Snapshot(c) => {
            b.put_u8(SNAPSHOT);
            put_snapshot_meta(b, &c.meta);
            b.put_u64_le(c.offset);
            b.put_u8(u8::from(c.done));
            put_bytes(b, &c.data);
        }
        Body::SnapshotResponse(r) => {
            b.put_u8(SNAPSHOT_RESPONSE);
            b.put_u64_le(r.index.0);
            b.put_u64_le(r.next_offset);
            b.put_u8(u8::from(r.done));
        }
        // `Body` is non-exhaustive for readers outside core; every variant
        // that exists is encoded above.
        #[allow(unreachable_patterns)]
        _ => b.put_u8(0),
    }
}

/// A size hint for [`put`].
pub fn len_hint(m: &Message) -> usize {
    64 + match &m.body {
        Body::Promise(p) => p.entries.iter().map(entry_len).sum(),
        Body::Accept(a) => a.entries.iter().map(entry_len).sum(),
        Body::Snapshot(c) => c.data.len() + 16 * c.meta.membership.members().count(),
        _ => 0,
    }
}

/// Reads a Multi-Paxos message; entry payloads and snapshot data are
/// slices of the input.
pub fn get(r: &mut Reader) -> Result<Message, DecodeError> {
    let ballot = get_ballot(r)?;
    let body = match r.u8()? {
        PREPARE => Body::Prepare(Prepare { commit: LogIndex(r.u64()?), transfer: None }),
        PREPARE_TRANSFER => {
            let commit = LogIndex(r.u64()?);
            Body::Prepare(Prepare { commit, transfer: Some(get_ballot(r)?) })
        }
        TIMEOUT_NOW => Body::TimeoutNow,
        PROMISE => {
            let commit = LogIndex(r.u64()?);
            Body::Promise(Promise { commit, entries: get_entries(r)? })
        }
        NACK => {
            let promised = get_ballot(r)?;
            let reason = NackReason::from_u8(r.u8()?).ok_or(DecodeError::BadTag("nack reason"))?;
            Body::Nack(Nack { promised, reason })
        }
        ACCEPT => {
            let commit = LogIndex(r.u64()?);
            Body::Accept(Accept { entries: get_entries(r)?, commit })
        }
        ACCEPTED => Body::Accepted(Accepted { match_index: LogIndex(r.u64()?) }),
        HEARTBEAT => Body::Heartbeat(Heartbeat { commit: LogIndex(r.u64()?), read_round: r.u64()? }),
        HEARTBEAT_RESPONSE => {
            Body::HeartbeatResponse(HeartbeatResponse { read_round: r.u64()?, match_index: LogIndex(r.u64()?) })
        }
        SNAPSHOT => {
            let meta = get_snapshot_meta(r)?;
            let offset = r.u64()?;
            let done = get_bool(r)?;
            let data = r.bytes()?;
            Body::Snapshot(SnapshotChunk { meta, offset, data, done })
        }
        SNAPSHOT_RESPONSE => Body::SnapshotResponse(SnapshotResponse {
            index: LogIndex(r.u64()?),
            next_offset: r.u64()?,
            done: get_bool(r)?,
        }),
        _ => return Err(DecodeError::BadTag("multi-paxos message")),
    };
    Ok(Message { ballot, body })
}
