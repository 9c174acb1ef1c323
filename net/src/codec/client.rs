//! Client requests and replies forwarded between nodes.

use super::DecodeError;
use super::entry::{get_opt_node, put_opt_node};
use crate::client::{ClientError, ClientReply, ClientRequest, RequestOp};
use bytes::{BufMut, BytesMut};
use synod_core::service::codec::{Reader, put_bytes};

/// Appends a request.
pub fn put_request(b: &mut BytesMut, r: &ClientRequest) {
    b.put_u64_le(r.id);
    match &r.op {
        RequestOp::Propose(c) => {
            b.put_u8(1);
            put_bytes(b, c);
        }
        RequestOp::Query(q) => {
            b.put_u8(2);
            put_bytes(b, q);
        }
    }
}

/// Reads a request.
pub fn get_request(r: &mut Reader) -> Result<ClientRequest, DecodeError> {
    let id = r.u64()?;
    let op = match r.u8()? {
        1 => RequestOp::Propose(r.bytes()?),
        2 => RequestOp::Query(r.bytes()?),
        _ => return Err(DecodeError::BadTag("request")),
    };
    Ok(ClientRequest { id, op })
}

/// Appends a reply.
pub fn put_reply(b: &mut BytesMut, r: &ClientReply) {
    b.put_u64_le(r.id);
    match &r.result {
        Ok(v) => {
            b.put_u8(0);
            put_bytes(b, v);
        }
        Err(e) => {
            b.put_u8(1);
            match e {
                ClientError::NotLeader { leader_hint } => {
                    b.put_u8(1);
                    put_opt_node(b, *leader_hint);
                }
                ClientError::Timeout => b.put_u8(2),
                ClientError::Busy => b.put_u8(3),
                ClientError::ShuttingDown => b.put_u8(4),
                ClientError::Lost => b.put_u8(5),
                ClientError::TooLarge => b.put_u8(6),
                ClientError::Unavailable => b.put_u8(7),
                ClientError::NoSpace => b.put_u8(8),
                ClientError::LeaderChanged { leader_hint } => {
                    b.put_u8(9);
                    put_opt_node(b, *leader_hint);
                }
            }
        }
    }
}

/// Reads a reply.
pub fn get_reply(r: &mut Reader) -> Result<ClientReply, DecodeError> {
    let id = r.u64()?;
    let result = match r.u8()? {
        0 => Ok(r.bytes()?),
        1 => Err(match r.u8()? {
            1 => ClientError::NotLeader { leader_hint: get_opt_node(r)? },
            2 => ClientError::Timeout,
            3 => ClientError::Busy,
            4 => ClientError::ShuttingDown,
            5 => ClientError::Lost,
            6 => ClientError::TooLarge,
            7 => ClientError::Unavailable,
            8 => ClientError::NoSpace,
            9 => ClientError::LeaderChanged { leader_hint: get_opt_node(r)? },
            _ => return Err(DecodeError::BadTag("client error")),
        }),
        _ => return Err(DecodeError::BadTag("reply")),
    };
    Ok(ClientReply { id, result })
}
