//! Frames: `[u32 length][u8 version][u8 kind][payload]`, little-endian,
//! where the length counts everything after itself.

use super::DecodeError;
use super::client::{get_reply, get_request, put_reply, put_request};
use super::handshake::{Hello, get_hello, put_hello};
use crate::client::{ClientReply, ClientRequest};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use synod_core::replica;
use synod_core::service::codec::Reader;

/// The wire format version this build speaks.
pub const VERSION: u8 = 1;

const HELLO: u8 = 1;
const REPLICA: u8 = 2;
const REQUEST: u8 = 3;
const REPLY: u8 = 4;

const PROTO_RAFT: u8 = 1;
const PROTO_MULTI_PAXOS: u8 = 2;

/// Everything that travels between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The handshake, first on every connection.
    Hello(Hello),
    /// A consensus message.
    Replica(replica::Message),
    /// A client request forwarded to the leader.
    Request(ClientRequest),
    /// The answer to a forwarded request.
    Reply(ClientReply),
}

/// Why a frame could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The claimed or actual length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer speaks another wire version.
    #[error("wire version {got} not supported (this node speaks {VERSION})")]
    Version {
        /// The version received.
        got: u8,
    },
    /// The content is malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Encodes and splits frames, refusing any over `max_frame` bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    /// Largest frame accepted or produced (length prefix excluded).
    pub max_frame: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec { max_frame: 16 << 20 }
    }
}

impl FrameCodec {
    /// A codec with the given limit.
    pub fn new(max_frame: usize) -> Self {
        FrameCodec { max_frame }
    }

    /// Appends `frame` to `out`.
    pub fn encode(&self, frame: &Frame, out: &mut BytesMut) -> Result<(), FrameError> {
        let start = out.len();
        out.reserve(6 + hint(frame));
        out.put_u32_le(0);
        out.put_u8(VERSION);
        match frame {
            Frame::Hello(h) => {
                out.put_u8(HELLO);
                put_hello(out, h);
            }
            Frame::Replica(m) => {
                out.put_u8(REPLICA);
                match m {
                    replica::Message::Raft(m) => {
                        out.put_u8(PROTO_RAFT);
                        super::raft::put(out, m);
                    }
                    replica::Message::MultiPaxos(m) => {
                        out.put_u8(PROTO_MULTI_PAXOS);
                        super::paxos::put(out, m);
                    }
                    #[allow(unreachable_patterns)]
                    _ => out.put_u8(0),
                }
            }
            Frame::Request(r) => {
                out.put_u8(REQUEST);
                put_request(out, r);
            }
            Frame::Reply(r) => {
                out.put_u8(REPLY);
                put_reply(out, r);
            }
        }
        let len = out.len() - start - 4;
        if len > self.max_frame {
            out.truncate(start);
            return Err(FrameError::TooLarge { len, max: self.max_frame });
        }
        out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
        Ok(())
    }

    /// Splits one whole frame off the front of `buf`, if one has arrived.
    /// Payloads are slices of `buf`'s memory, not copies.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge { len, max: self.max_frame });
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        buf.advance(4);
        let body = buf.split_to(len).freeze();
        decode_body(body).map(Some)
    }
}

fn hint(f: &Frame) -> usize {
    match f {
        Frame::Replica(replica::Message::Raft(m)) => super::raft::len_hint(m),
        Frame::Replica(replica::Message::MultiPaxos(m)) => super::paxos::len_hint(m),
        Frame::Request(r) => 32 + r.payload_len(),
        Frame::Reply(r) => 32 + r.result.as_ref().map_or(0, |b| b.len()),
        _ => 64,
    }
}

/// Decodes a frame body (after the length prefix).
pub fn decode_body(body: Bytes) -> Result<Frame, FrameError> {
    let mut r = Reader::new(body);
    let version = r.u8().map_err(DecodeError::from)?;
    if version != VERSION {
        return Err(FrameError::Version { got: version });
    }
    let frame = match r.u8().map_err(DecodeError::from)? {
        HELLO => Frame::Hello(get_hello(&mut r)?),
        REPLICA => match r.u8().map_err(DecodeError::from)? {
            PROTO_RAFT => Frame::Replica(replica::Message::Raft(super::raft::get(&mut r)?)),
            PROTO_MULTI_PAXOS => Frame::Replica(replica::Message::MultiPaxos(super::paxos::get(&mut r)?)),
            _ => return Err(DecodeError::BadTag("protocol").into()),
        },
        REQUEST => Frame::Request(get_request(&mut r)?),
        REPLY => Frame::Reply(get_reply(&mut r)?),
        _ => return Err(DecodeError::BadTag("frame kind").into()),
    };
    r.finish().map_err(DecodeError::from)?;
    Ok(frame)
}
