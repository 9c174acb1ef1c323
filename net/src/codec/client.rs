//! Client requests and replies forwarded between nodes.

use super::DecodeError;
use super::entry::{get_opt_node, put_opt_node};
use crate::client::{ClientError, ClientReply, ClientRequest, Refusal, RequestOp};
use bytes::{BufMut, BytesMut};
use synod_core::id::NodeId;
use synod_core::replica::MemberStep;
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
        RequestOp::Member(step) => {
            b.put_u8(3);
            match step {
                MemberStep::AddLearner { id, address } => {
                    b.put_u8(1);
                    b.put_u64_le(id.0);
                    put_bytes(b, address);
                }
                MemberStep::Promote { id } => {
                    b.put_u8(2);
                    b.put_u64_le(id.0);
                }
                MemberStep::Remove { id } => {
                    b.put_u8(3);
                    b.put_u64_le(id.0);
                }
                MemberStep::Replace { old, new } => {
                    b.put_u8(4);
                    b.put_u64_le(old.0);
                    b.put_u64_le(new.0);
                }
            }
        }
        RequestOp::TransferLeader(to) => {
            b.put_u8(4);
            b.put_u64_le(to.0);
        }
        RequestOp::ReadIndex => b.put_u8(5),
        RequestOp::Configuration => b.put_u8(6),
    }
}

/// Reads a request.
pub fn get_request(r: &mut Reader) -> Result<ClientRequest, DecodeError> {
    let id = r.u64()?;
    let op = match r.u8()? {
        1 => RequestOp::Propose(r.bytes()?),
        2 => RequestOp::Query(r.bytes()?),
        3 => RequestOp::Member(match r.u8()? {
            1 => MemberStep::AddLearner { id: NodeId(r.u64()?), address: r.bytes()? },
            2 => MemberStep::Promote { id: NodeId(r.u64()?) },
            3 => MemberStep::Remove { id: NodeId(r.u64()?) },
            4 => MemberStep::Replace { old: NodeId(r.u64()?), new: NodeId(r.u64()?) },
            _ => return Err(DecodeError::BadTag("member step")),
        }),
        4 => RequestOp::TransferLeader(NodeId(r.u64()?)),
        5 => RequestOp::ReadIndex,
        6 => RequestOp::Configuration,
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
                ClientError::Refused(why) => {
                    b.put_u8(10);
                    put_refusal(b, *why);
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
            10 => ClientError::Refused(get_refusal(r)?),
            _ => return Err(DecodeError::BadTag("client error")),
        }),
        _ => return Err(DecodeError::BadTag("reply")),
    };
    Ok(ClientReply { id, result })
}

fn put_refusal(b: &mut BytesMut, why: Refusal) {
    let (tag, id) = match why {
        Refusal::ChangePending => (1, None),
        Refusal::AlreadyMember(id) => (2, Some(id)),
        Refusal::NotMember(id) => (3, Some(id)),
        Refusal::NotVoter(id) => (4, Some(id)),
        Refusal::LastVoter(id) => (5, Some(id)),
        Refusal::Invalid => (6, None),
        Refusal::Unsupported => (7, None),
        Refusal::NotCaughtUp(id) => (8, Some(id)),
        Refusal::NotReplaceable { old, new } => {
            b.put_u8(9);
            b.put_u64_le(old.0);
            b.put_u64_le(new.0);
            return;
        }
    };
    b.put_u8(tag);
    if let Some(id) = id {
        b.put_u64_le(id.0);
    }
}

fn get_refusal(r: &mut Reader) -> Result<Refusal, DecodeError> {
    Ok(match r.u8()? {
        1 => Refusal::ChangePending,
        2 => Refusal::AlreadyMember(NodeId(r.u64()?)),
        3 => Refusal::NotMember(NodeId(r.u64()?)),
        4 => Refusal::NotVoter(NodeId(r.u64()?)),
        5 => Refusal::LastVoter(NodeId(r.u64()?)),
        6 => Refusal::Invalid,
        7 => Refusal::Unsupported,
        8 => Refusal::NotCaughtUp(NodeId(r.u64()?)),
        9 => Refusal::NotReplaceable { old: NodeId(r.u64()?), new: NodeId(r.u64()?) },
        _ => return Err(DecodeError::BadTag("refusal")),
    })
}
