//! The [`super::Store`]'s replies and errors, and their versioned binary
//! encoding.

use super::codec::{DecodeError, Reader};
use super::command::{VERSION, check_version, opt_u64, put_opt_u64};
use super::kv::KvReply;
use super::leases::{LeaseError, LeaseInfo};
use super::locks::{LockError, LockOwner};
use super::session::{ClientId, SessionError};
use crate::lease::{FencingToken, LeaseId};
use crate::time::{Duration, duration_nanos};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// An answer to a command or a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Ok,
    /// A KV command's or query's answer (including the KV's own errors).
    Kv(KvReply),
    /// A lease was granted or renewed, with this TTL from the next tick.
    Lease {
        /// The lease.
        id: LeaseId,
        /// Its TTL.
        ttl: Duration,
    },
    /// A session was opened.
    Session {
        /// Its id, for the client's later commands.
        client: ClientId,
    },
    /// The lease holds the lock under this token.
    Locked {
        /// The grant's fencing token.
        token: FencingToken,
    },
    /// The lease waits for the lock.
    Queued {
        /// Place in the queue; 1 is next.
        position: u64,
    },
    /// A try-acquire found the lock held.
    Busy(LockOwner),
    /// A yes or no.
    Bool(bool),
    /// Live leases.
    Leases(Vec<LeaseInfo>),
    /// One lease.
    LeaseTtl(LeaseInfo),
    /// A lock's holder, if held.
    Owner(Option<LockOwner>),
    /// Refused; nothing changed.
    Error(StoreError),
    /// A transaction's replies, one per step; `None` if a watched key had
    /// changed and nothing ran.
    Exec(Option<Vec<Reply>>),
    /// Key versions, in the order asked.
    Versions(Vec<u64>),
}

/// Why the store refused a command or query. State is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The request could not be decoded.
    #[error("malformed request")]
    Malformed,
    /// The request was encoded by an unknown version.
    #[error("unsupported encoding version")]
    UnsupportedVersion,
    /// The entry's index is not above the last applied: the driver
    /// replayed an entry.
    #[error("entry index already applied")]
    StaleIndex,
    /// No such lease was ever granted.
    #[error("unknown lease")]
    UnknownLease,
    /// The lease expired or was revoked.
    #[error("lease expired or revoked")]
    LeaseExpired,
    /// A TTL of zero or above the configured maximum.
    #[error("ttl out of range")]
    InvalidTtl,
    /// A release by a lease that does not hold the lock under that token.
    #[error("not the lock's holder")]
    NotHolder,
    /// A lock name beyond the key size limit.
    #[error("lock name too large")]
    KeyTooLarge,
    /// No such session was ever opened.
    #[error("unknown session")]
    UnknownSession,
    /// The session expired or was closed.
    #[error("session expired or closed")]
    SessionExpired,
    /// The command's sequence number is below the session's last.
    #[error("stale sequence number")]
    StaleSequence,
    /// The lease was granted to another holder ([`super::Caller`]).
    #[error("the lease belongs to another client")]
    NotLeaseHolder,
    /// A command only the node itself may propose (a tick) came from a
    /// client.
    #[error("internal command refused")]
    InternalCommand,
    /// The answer would pass the reply limit.
    #[error("reply too large")]
    ReplyTooLarge,
    /// The session was opened by another holder ([`super::Caller`]).
    #[error("the session belongs to another client")]
    SessionNotOwner,
    /// A retry of a command that was applied once, whose reply was too
    /// large to keep in its session ([`super::session::Bounds`]).
    #[error("the command was applied; its reply was too large to keep for retries")]
    ReplyNotKept,
    /// A transaction with more steps or watched keys than allowed.
    #[error("transaction too large")]
    TransactionTooLarge,
    /// A command a transaction may not hold (locks, ending leases,
    /// sessions).
    #[error("command not allowed inside a transaction")]
    NotInTransaction,
}

impl From<LeaseError> for StoreError {
    fn from(e: LeaseError) -> Self {
        match e {
            LeaseError::Unknown => StoreError::UnknownLease,
            LeaseError::Expired => StoreError::LeaseExpired,
        }
    }
}

impl From<LockError> for StoreError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::NotHolder => StoreError::NotHolder,
        }
    }
}

impl From<SessionError> for StoreError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unknown => StoreError::UnknownSession,
            SessionError::Expired => StoreError::SessionExpired,
            SessionError::StaleSequence => StoreError::StaleSequence,
            SessionError::NotOwner => StoreError::SessionNotOwner,
        }
    }
}

const ERRORS: [StoreError; 18] = [
    StoreError::Malformed,
    StoreError::UnsupportedVersion,
    StoreError::StaleIndex,
    StoreError::UnknownLease,
    StoreError::LeaseExpired,
    StoreError::InvalidTtl,
    StoreError::NotHolder,
    StoreError::KeyTooLarge,
    StoreError::UnknownSession,
    StoreError::SessionExpired,
    StoreError::StaleSequence,
    StoreError::NotLeaseHolder,
    StoreError::InternalCommand,
    StoreError::ReplyTooLarge,
    StoreError::SessionNotOwner,
    StoreError::ReplyNotKept,
    StoreError::TransactionTooLarge,
    StoreError::NotInTransaction,
];

impl StoreError {
    fn code(self) -> u8 {
        // Codes are positions in ERRORS, from 1; append new errors only.
        ERRORS.iter().position(|&e| e == self).map_or(0, |i| i as u8 + 1)
    }

    fn from_code(c: u8) -> Option<StoreError> {
        ERRORS.get(usize::from(c).checked_sub(1)?).copied()
    }
}

/// Smallest encoding of a [`LeaseInfo`]: id, ttl, an absent option.
const LEASE_INFO_MIN: usize = 17;

impl Reply {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        // A value read (every GET) is sized exactly; the rest are small.
        let len = match self {
            Reply::Kv(r) => 6usize.saturating_add(r.encoded_len()),
            _ => 64,
        };
        let mut b = BytesMut::with_capacity(len);
        b.put_u8(VERSION);
        self.put(&mut b);
        b.freeze()
    }

    /// Appends the tag and fields.
    fn put(&self, b: &mut BytesMut) {
        match self {
            Reply::Ok => b.put_u8(0),
            Reply::Kv(r) => {
                // Length-prefixed as `put_bytes` would, written in place.
                b.put_u8(1);
                let at = b.len();
                b.put_u32_le(0);
                r.put(b);
                let n = (b.len() - at - 4) as u32;
                b[at..at + 4].copy_from_slice(&n.to_le_bytes());
            }
            Reply::Lease { id, ttl } => {
                b.put_u8(2);
                b.put_u64_le(id.0);
                b.put_u64_le(duration_nanos(*ttl));
            }
            Reply::Session { client } => {
                b.put_u8(3);
                b.put_u64_le(client.0);
            }
            Reply::Locked { token } => {
                b.put_u8(4);
                b.put_u64_le(token.0);
            }
            Reply::Queued { position } => {
                b.put_u8(5);
                b.put_u64_le(*position);
            }
            Reply::Busy(owner) => {
                b.put_u8(6);
                put_owner(b, owner);
            }
            Reply::Bool(x) => {
                b.put_u8(7);
                b.put_u8(u8::from(*x));
            }
            Reply::Leases(infos) => {
                b.put_u8(8);
                b.put_u32_le(infos.len() as u32);
                for i in infos {
                    put_lease_info(b, i);
                }
            }
            Reply::LeaseTtl(i) => {
                b.put_u8(9);
                put_lease_info(b, i);
            }
            Reply::Owner(o) => {
                b.put_u8(10);
                match o {
                    None => b.put_u8(0),
                    Some(o) => {
                        b.put_u8(1);
                        put_owner(b, o);
                    }
                }
            }
            Reply::Error(e) => {
                b.put_u8(11);
                b.put_u8(e.code());
            }
            Reply::Exec(None) => b.put_u8(12),
            Reply::Exec(Some(replies)) => {
                b.put_u8(13);
                b.put_u32_le(replies.len() as u32);
                for r in replies {
                    r.put(b);
                }
            }
            Reply::Versions(vs) => {
                b.put_u8(14);
                b.put_u32_le(vs.len() as u32);
                for v in vs {
                    b.put_u64_le(*v);
                }
            }
        }
    }

    /// Parses the wire form.
    pub fn decode(buf: Bytes) -> Result<Reply, DecodeError> {
        let mut r = Reader::new(buf);
        check_version(&mut r)?;
        let reply = Reply::read(&mut r, true)?;
        r.finish()?;
        Ok(reply)
    }

    /// Reads a tag and fields; a transaction's replies only where `outer`
    /// (they hold none), so nesting is bounded.
    fn read(r: &mut Reader, outer: bool) -> Result<Reply, DecodeError> {
        Ok(match r.u8()? {
            0 => Reply::Ok,
            1 => Reply::Kv(KvReply::decode(r.bytes()?)?),
            2 => Reply::Lease { id: LeaseId(r.u64()?), ttl: Duration::from_nanos(r.u64()?) },
            3 => Reply::Session { client: ClientId(r.u64()?) },
            4 => Reply::Locked { token: FencingToken(r.u64()?) },
            5 => Reply::Queued { position: r.u64()? },
            6 => Reply::Busy(owner(r)?),
            7 => Reply::Bool(match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError("bad bool")),
            }),
            8 => {
                let n = r.u32()? as usize;
                if r.remaining() / LEASE_INFO_MIN < n {
                    return Err(DecodeError("lease count past end of buffer"));
                }
                let mut infos = Vec::with_capacity(n);
                for _ in 0..n {
                    infos.push(lease_info(r)?);
                }
                Reply::Leases(infos)
            }
            9 => Reply::LeaseTtl(lease_info(r)?),
            10 => Reply::Owner(match r.u8()? {
                0 => None,
                1 => Some(owner(r)?),
                _ => return Err(DecodeError("bad option tag")),
            }),
            11 => Reply::Error(StoreError::from_code(r.u8()?).ok_or(DecodeError("unknown store error"))?),
            12 => Reply::Exec(None),
            13 if outer => {
                let n = r.u32()? as usize;
                // A reply takes at least its tag.
                if r.remaining() < n {
                    return Err(DecodeError("reply count past end of buffer"));
                }
                let mut replies = Vec::with_capacity(n);
                for _ in 0..n {
                    replies.push(Reply::read(r, false)?);
                }
                Reply::Exec(Some(replies))
            }
            13 => return Err(DecodeError("a transaction's reply inside another")),
            14 => {
                let n = r.u32()? as usize;
                if r.remaining() / 8 < n {
                    return Err(DecodeError("version count past end of buffer"));
                }
                let mut vs = Vec::with_capacity(n);
                for _ in 0..n {
                    vs.push(r.u64()?);
                }
                Reply::Versions(vs)
            }
            _ => return Err(DecodeError("unknown store reply")),
        })
    }
}

fn put_owner(b: &mut BytesMut, o: &LockOwner) {
    b.put_u64_le(o.lease.0);
    b.put_u64_le(o.token.0);
}

fn owner(r: &mut Reader) -> Result<LockOwner, DecodeError> {
    Ok(LockOwner { lease: LeaseId(r.u64()?), token: FencingToken(r.u64()?) })
}

fn put_lease_info(b: &mut BytesMut, i: &LeaseInfo) {
    b.put_u64_le(i.id.0);
    b.put_u64_le(duration_nanos(i.ttl));
    put_opt_u64(b, i.remaining.map(duration_nanos));
}

fn lease_info(r: &mut Reader) -> Result<LeaseInfo, DecodeError> {
    Ok(LeaseInfo {
        id: LeaseId(r.u64()?),
        ttl: Duration::from_nanos(r.u64()?),
        remaining: opt_u64(r)?.map(Duration::from_nanos),
    })
}
