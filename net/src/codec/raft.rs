//! Raft messages on the wire.

use super::DecodeError;
use super::entry::{entry_len, get_entry, get_snapshot_meta, put_entry, put_snapshot_meta};
use bytes::{BufMut, BytesMut};
use synod_core::id::{LogIndex, Term};
use synod_core::raft::{
    Append, AppendResponse, Body, Heartbeat, HeartbeatResponse, Message, SnapshotChunk, SnapshotResponse, VoteRequest,
    VoteResponse,
};
use synod_core::service::codec::{Reader, put_bytes};

const VOTE: u8 = 1;
const VOTE_RESPONSE: u8 = 2;
const APPEND: u8 = 3;
const APPEND_ACCEPTED: u8 = 4;
const APPEND_REJECTED: u8 = 5;
const HEARTBEAT: u8 = 6;
const HEARTBEAT_RESPONSE: u8 = 7;
const SNAPSHOT: u8 = 8;
const SNAPSHOT_RESPONSE: u8 = 9;
const TIMEOUT_NOW: u8 = 10;

fn flags(a: bool, b: bool) -> u8 {
    u8::from(a) | (u8::from(b) << 1)
}

fn get_flags(r: &mut Reader) -> Result<(bool, bool), DecodeError> {
    let f = r.u8()?;
    if f > 3 {
        return Err(DecodeError::Malformed("flags"));
    }
    Ok((f & 1 != 0, f & 2 != 0))
}

/// Appends a Raft message.
pub fn put(b: &mut BytesMut, m: &Message) {
    b.put_u64_le(m.term.0);
    match &m.body {
        Body::Vote(v) => {
            b.put_u8(VOTE);
            b.put_u8(flags(v.pre_vote, v.transfer));
            b.put_u64_le(v.last_index.0);
            b.put_u64_le(v.last_term.0);
        }
        Body::VoteResponse(v) => {
            b.put_u8(VOTE_RESPONSE);
            b.put_u8(flags(v.pre_vote, v.granted));
        }
        Body::Append(a) => {
            b.put_u8(APPEND);
            b.put_u64_le(a.prev_index.0);
            b.put_u64_le(a.prev_term.0);
            b.put_u64_le(a.commit.0);
            b.put_u32_le(a.entries.len() as u32);
            for e in &a.entries {
                put_entry(b, e);
            }
        }
        Body::AppendResponse(AppendResponse::Accepted { match_index }) => {
            b.put_u8(APPEND_ACCEPTED);
            b.put_u64_le(match_index.0);
        }
        Body::AppendResponse(AppendResponse::Rejected { rejected, hint_index, hint_term }) => {
            b.put_u8(APPEND_REJECTED);
            b.put_u64_le(rejected.0);
            b.put_u64_le(hint_index.0);
            b.put_u64_le(hint_term.0);
        }
        Body::Heartbeat(h) => {
            b.put_u8(HEARTBEAT);
            b.put_u64_le(h.commit.0);
            b.put_u64_le(h.read_round);
        }
        Body::HeartbeatResponse(h) => {
            b.put_u8(HEARTBEAT_RESPONSE);
            b.put_u64_le(h.read_round);
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
        Body::TimeoutNow => b.put_u8(TIMEOUT_NOW),
        // `Body` is non-exhaustive for readers outside core; every variant
        // that exists is encoded above.
        #[allow(unreachable_patterns)]
        _ => b.put_u8(0),
    }
}

/// A size hint for [`put`].
pub fn len_hint(m: &Message) -> usize {
    64 + match &m.body {
        Body::Append(a) => a.entries.iter().map(entry_len).sum(),
        Body::Snapshot(c) => c.data.len() + 16 * c.meta.membership.members().count(),
        _ => 0,
    }
}

/// Reads a Raft message; entry payloads and snapshot data are slices of
/// the input.
pub fn get(r: &mut Reader) -> Result<Message, DecodeError> {
    let term = Term(r.u64()?);
    let body = match r.u8()? {
        VOTE => {
            let (pre_vote, transfer) = get_flags(r)?;
            Body::Vote(VoteRequest { pre_vote, transfer, last_index: LogIndex(r.u64()?), last_term: Term(r.u64()?) })
        }
        VOTE_RESPONSE => {
            let (pre_vote, granted) = get_flags(r)?;
            Body::VoteResponse(VoteResponse { pre_vote, granted })
        }
        APPEND => {
            let prev_index = LogIndex(r.u64()?);
            let prev_term = Term(r.u64()?);
            let commit = LogIndex(r.u64()?);
            let n = r.u32()? as usize;
            // Every entry takes at least 21 bytes: bound the allocation by
            // what is actually there, not by the claimed count.
            if r.remaining() / 21 < n {
                return Err(DecodeError::Truncated("entry count"));
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(get_entry(r)?);
            }
            Body::Append(Append { prev_index, prev_term, entries, commit })
        }
        APPEND_ACCEPTED => Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(r.u64()?) }),
        APPEND_REJECTED => Body::AppendResponse(AppendResponse::Rejected {
            rejected: LogIndex(r.u64()?),
            hint_index: LogIndex(r.u64()?),
            hint_term: Term(r.u64()?),
        }),
        HEARTBEAT => Body::Heartbeat(Heartbeat { commit: LogIndex(r.u64()?), read_round: r.u64()? }),
        HEARTBEAT_RESPONSE => Body::HeartbeatResponse(HeartbeatResponse { read_round: r.u64()? }),
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
        TIMEOUT_NOW => Body::TimeoutNow,
        _ => return Err(DecodeError::BadTag("raft message")),
    };
    Ok(Message { term, body })
}

/// Reads a strict boolean byte.
pub fn get_bool(r: &mut Reader) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Malformed("bool")),
    }
}
