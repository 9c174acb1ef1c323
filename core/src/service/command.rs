//! The [`super::Store`]'s commands (through the log) and queries (after a
//! read barrier), and their versioned binary encodings.
//!
//! Every encoding starts with a version byte ([`VERSION`]), then a tag.
//! Decoding is bounded by [`super::codec`]: lengths are checked against the
//! bytes present before anything is sliced or allocated.

use super::codec::{DecodeError, Reader, put_bytes, put_list};
use super::keyspace::{KeyCommand, KeyQuery};
use super::kv::{KvCommand, KvQuery};
use super::session::{ClientId, Seq};
use super::transaction::Transaction;
use crate::lease::{FencingToken, LeaseId};
use crate::time::{Duration, Instant, duration_nanos};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// The encoding version of queries and replies; commands have their own
/// ([`COMMAND_VERSION`]).
pub const VERSION: u8 = 1;

/// The command encoding this build writes. Versions 1 (no [`Caller`]) and
/// 2 still decode, so logs written before them replay unchanged.
pub const COMMAND_VERSION: u8 = 3;

/// The first command encoding whose entries stamp the key versions `WATCH`
/// reads ([`super::versions`]). Entries written before (by builds that kept
/// no versions) stamp 0: whether a replica replays them or restores a
/// snapshot taken before versions, it finds the same versions.
pub const VERSIONED_FROM: u8 = 3;

/// Longest [`Caller::holder`].
pub const MAX_HOLDER: usize = 64;

/// A command for the log: an operation, optionally numbered within a
/// client session for exactly-once application, and who proposed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The session and sequence number, if the client has a session.
    /// Not allowed on ticks ([`Op::Tick`], [`Op::Clock`]) and [`Op::SessionOpen`].
    pub session: Option<ClientSeq>,
    /// Who proposed it.
    pub caller: Caller,
    /// What to do.
    pub op: Op,
}

/// Who proposed a command, as the proposing node's front end authenticated
/// them. A lease belongs to the holder it was granted to: only that holder,
/// or an admin, may renew or revoke it, write keys under it, or take, wait
/// for or release locks with it. Tokens stay fencing tokens, not
/// credentials (Chubby ties locks to the session that holds them; etcd to
/// the authenticated user).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Who holds what this caller is granted: an authenticated user, or a
    /// client connection; opaque to the store, at most [`MAX_HOLDER`]
    /// bytes. Empty is anonymous: anonymous leases are anyone's, as every
    /// lease was before callers were recorded.
    pub holder: Bytes,
    /// May act on every lease.
    pub admin: bool,
}

/// A command's place in its client's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSeq {
    /// The session.
    pub client: ClientId,
    /// The command's number in it.
    pub seq: Seq,
}

/// What a command does, and the [`super::Reply`] it gets on success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A KV write. With `lease`, the key is attached to that lease after
    /// the write (deleted when it ends); without, it is detached — every
    /// write sets the key's lease, as etcd's put does. Reply: `Kv`.
    Kv {
        /// The write.
        cmd: KvCommand,
        /// The lease to attach the key to.
        lease: Option<LeaseId>,
    },
    /// A KV write whose key gets a fresh lease of `ttl`, granted in the
    /// same entry and only if the write changed the key, so a refused or
    /// failed write leaves no lease behind (Redis's `SET … EX`). Reply:
    /// `Kv`.
    KvLeased {
        /// The write.
        cmd: KvCommand,
        /// The new lease's time to live, counted from the next tick.
        ttl: Duration,
    },
    /// A string or key command in Redis's shape, TTLs included: one entry
    /// however many keys it names. Reply: `Kv` (see [`KeyCommand`]).
    Key(KeyCommand),
    /// Grants a lease. Reply: `Lease`.
    LeaseGrant {
        /// Its time to live, counted from the next tick.
        ttl: Duration,
    },
    /// Renews a lease for its whole TTL from the next tick. Reply: `Lease`.
    /// Idempotent, so it needs no session; if sent in one, a retry gets the
    /// first attempt's reply, and the client must count its local lease
    /// from the first attempt's send time.
    LeaseKeepAlive {
        /// The lease.
        lease: LeaseId,
    },
    /// Ends a lease now, deleting its keys and releasing its locks.
    /// Reply: `Ok`.
    LeaseRevoke {
        /// The lease.
        lease: LeaseId,
    },
    /// Acquires a lock, waiting in line if it is held. Idempotent.
    /// Reply: `Locked` or `Queued`.
    Acquire {
        /// The lock's name.
        lock: Bytes,
        /// The lease to hold it under.
        lease: LeaseId,
    },
    /// Acquires a lock only if free (or already held by `lease`).
    /// Reply: `Locked` or `Busy`.
    TryAcquire {
        /// The lock's name.
        lock: Bytes,
        /// The lease to hold it under.
        lease: LeaseId,
    },
    /// Releases a held lock; the next waiter gets it. Reply: `Ok`.
    Release {
        /// The lock's name.
        lock: Bytes,
        /// The holder's lease.
        lease: LeaseId,
        /// The holder's token.
        token: FencingToken,
    },
    /// Stops waiting for a lock. Reply: `Bool(was waiting)`.
    Cancel {
        /// The lock's name.
        lock: Bytes,
        /// The waiter's lease.
        lease: LeaseId,
    },
    /// Opens a client session. Reply: `Session`.
    SessionOpen,
    /// Closes a client session. Reply: `Bool(was open)`.
    SessionClose {
        /// The session.
        client: ClientId,
    },
    /// A Redis transaction: its steps, applied in order in one entry unless
    /// a watched key changed. Reply: `Exec`.
    Exec(Transaction),
    /// Log time set to the largest `now` seen: the time base of logs
    /// written before [`Op::Clock`], still applied so they replay. Reply:
    /// `Ok`. Only the leader's driver proposes time: a driver must refuse a
    /// client's command that decodes to a tick ([`Command::is_tick`]), or
    /// a client could end every lease.
    Tick {
        /// The leader's clock.
        now: Instant,
    },
    /// The passage of time: the leader of `term` measured `elapsed` on its
    /// own monotonic clock since its previous `Clock` entry (zero on its
    /// first). Reply: `Ok`. See [`clock`](super::clock) for why time is
    /// carried as durations.
    Clock {
        /// The proposing leader's term (Multi-Paxos: ballot round).
        term: u64,
        /// Time since that leader's previous tick.
        elapsed: Duration,
    },
}

impl Command {
    /// A command outside any session.
    pub fn new(op: Op) -> Command {
        Command { session: None, caller: Caller::default(), op }
    }

    /// `op` as command `seq` of `client`'s session.
    pub fn in_session(client: ClientId, seq: Seq, op: Op) -> Command {
        Command { session: Some(ClientSeq { client, seq }), caller: Caller::default(), op }
    }

    /// The same command, proposed by `caller`.
    pub fn by(self, caller: Caller) -> Command {
        Command { caller, ..self }
    }

    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(COMMAND_VERSION);
        match self.session {
            None => b.put_u8(0),
            Some(s) => {
                b.put_u8(1);
                b.put_u64_le(s.client.0);
                b.put_u64_le(s.seq.0);
            }
        }
        put_bytes(&mut b, &self.caller.holder);
        b.put_u8(u8::from(self.caller.admin));
        put_op(&mut b, &self.op);
        b.freeze()
    }

    /// Parses the wire form (this version or version 1); slices share
    /// `buf`. A session on a `Tick` or `SessionOpen` is malformed, as is a
    /// holder longer than [`MAX_HOLDER`].
    pub fn decode(buf: Bytes) -> Result<Command, DecodeError> {
        let mut r = Reader::new(buf);
        let version = r.u8()?;
        if !(1..=COMMAND_VERSION).contains(&version) {
            return Err(DecodeError("unsupported encoding version"));
        }
        let session = match r.u8()? {
            0 => None,
            1 => Some(ClientSeq { client: ClientId(r.u64()?), seq: Seq(r.u64()?) }),
            _ => return Err(DecodeError("bad session tag")),
        };
        let caller = match version {
            1 => Caller::default(),
            _ => {
                let holder = r.bytes()?;
                if holder.len() > MAX_HOLDER {
                    return Err(DecodeError("holder too long"));
                }
                let admin = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError("bad bool")),
                };
                Caller { holder, admin }
            }
        };
        let op = read_op(&mut r, true)?;
        r.finish()?;
        let cmd = Command { session, caller, op };
        if !cmd.session_allowed() {
            return Err(DecodeError("session on a command that takes none"));
        }
        Ok(cmd)
    }

    /// True for a tick (either time base), which only the leader's driver
    /// may propose.
    pub fn is_tick(&self) -> bool {
        matches!(self.op, Op::Tick { .. } | Op::Clock { .. })
    }

    /// True if the store consults the caller for this command: it grants,
    /// uses or acts on a lease. Other commands need not carry one.
    pub fn needs_caller(&self) -> bool {
        // A session is its opener's: the store checks who uses it.
        if self.session.is_some() {
            return true;
        }
        op_needs_caller(&self.op)
    }

    /// False for commands that can only remove state or keep what exists
    /// alive: a node out of disk still serves those (etcd's NOSPACE alarm
    /// allows reads and deletes).
    pub fn grows(&self) -> bool {
        op_grows(&self.op)
    }

    /// False for a session on a `Tick` (time is not a client's) or a
    /// `SessionOpen` (there is no session yet).
    pub fn session_allowed(&self) -> bool {
        self.session.is_none() || !matches!(self.op, Op::Tick { .. } | Op::Clock { .. } | Op::SessionOpen)
    }
}

/// True if the store consults the caller for `op`: it grants, uses or
/// acts on a lease.
pub(crate) fn op_needs_caller(op: &Op) -> bool {
    match op {
        Op::Kv { lease, .. } => lease.is_some(),
        Op::KvLeased { .. }
        | Op::LeaseGrant { .. }
        | Op::LeaseKeepAlive { .. }
        | Op::LeaseRevoke { .. }
        | Op::Acquire { .. }
        | Op::TryAcquire { .. }
        | Op::Release { .. }
        | Op::Cancel { .. } => true,
        // A key's own TTL lease is anonymous: it needs no holder.
        Op::SessionOpen | Op::SessionClose { .. } => true,
        Op::Key(_) | Op::Tick { .. } | Op::Clock { .. } => false,
        Op::Exec(tx) => tx.needs_caller(),
    }
}

/// False for operations that can only remove state or keep what exists
/// alive.
pub(crate) fn op_grows(op: &Op) -> bool {
    match op {
        Op::Kv { cmd, .. } => !cmd.only_removes(),
        Op::Key(cmd) => !cmd.only_removes(),
        Op::LeaseKeepAlive { .. }
        | Op::LeaseRevoke { .. }
        | Op::Release { .. }
        | Op::Cancel { .. }
        | Op::SessionClose { .. }
        | Op::Tick { .. }
        | Op::Clock { .. } => false,
        Op::KvLeased { .. } | Op::LeaseGrant { .. } | Op::Acquire { .. } | Op::TryAcquire { .. } | Op::SessionOpen => {
            true
        }
        Op::Exec(tx) => tx.grows(),
    }
}

/// Appends an operation's tag and fields.
pub(crate) fn put_op(b: &mut BytesMut, op: &Op) {
    match op {
        Op::Kv { cmd, lease } => {
            b.put_u8(1);
            put_opt_u64(b, lease.map(|l| l.0));
            put_bytes(b, &cmd.encode());
        }
        Op::LeaseGrant { ttl } => {
            b.put_u8(2);
            b.put_u64_le(duration_nanos(*ttl));
        }
        Op::LeaseKeepAlive { lease } => {
            b.put_u8(3);
            b.put_u64_le(lease.0);
        }
        Op::LeaseRevoke { lease } => {
            b.put_u8(4);
            b.put_u64_le(lease.0);
        }
        Op::Acquire { lock, lease } => {
            b.put_u8(5);
            put_bytes(b, lock);
            b.put_u64_le(lease.0);
        }
        Op::TryAcquire { lock, lease } => {
            b.put_u8(6);
            put_bytes(b, lock);
            b.put_u64_le(lease.0);
        }
        Op::Release { lock, lease, token } => {
            b.put_u8(7);
            put_bytes(b, lock);
            b.put_u64_le(lease.0);
            b.put_u64_le(token.0);
        }
        Op::Cancel { lock, lease } => {
            b.put_u8(8);
            put_bytes(b, lock);
            b.put_u64_le(lease.0);
        }
        Op::SessionOpen => b.put_u8(9),
        Op::SessionClose { client } => {
            b.put_u8(10);
            b.put_u64_le(client.0);
        }
        Op::Tick { now } => {
            b.put_u8(11);
            b.put_u64_le(now.as_nanos());
        }
        Op::KvLeased { cmd, ttl } => {
            b.put_u8(12);
            b.put_u64_le(duration_nanos(*ttl));
            put_bytes(b, &cmd.encode());
        }
        Op::Clock { term, elapsed } => {
            b.put_u8(13);
            b.put_u64_le(*term);
            b.put_u64_le(duration_nanos(*elapsed));
        }
        Op::Key(cmd) => {
            b.put_u8(14);
            put_bytes(b, &cmd.encode());
        }
        Op::Exec(tx) => {
            b.put_u8(15);
            tx.encode(b);
        }
    }
}

/// Reads an operation's tag and fields; a transaction only where
/// `outer` (a transaction holds none).
pub(crate) fn read_op(r: &mut Reader, outer: bool) -> Result<Op, DecodeError> {
    let op = match r.u8()? {
        1 => {
            let lease = opt_u64(r)?.map(LeaseId);
            Op::Kv { cmd: KvCommand::decode(r.bytes()?)?, lease }
        }
        2 => Op::LeaseGrant { ttl: Duration::from_nanos(r.u64()?) },
        3 => Op::LeaseKeepAlive { lease: LeaseId(r.u64()?) },
        4 => Op::LeaseRevoke { lease: LeaseId(r.u64()?) },
        5 => Op::Acquire { lock: r.bytes()?, lease: LeaseId(r.u64()?) },
        6 => Op::TryAcquire { lock: r.bytes()?, lease: LeaseId(r.u64()?) },
        7 => Op::Release { lock: r.bytes()?, lease: LeaseId(r.u64()?), token: FencingToken(r.u64()?) },
        8 => Op::Cancel { lock: r.bytes()?, lease: LeaseId(r.u64()?) },
        9 => Op::SessionOpen,
        10 => Op::SessionClose { client: ClientId(r.u64()?) },
        11 => Op::Tick { now: Instant::from_nanos(r.u64()?) },
        12 => {
            let ttl = Duration::from_nanos(r.u64()?);
            Op::KvLeased { cmd: KvCommand::decode(r.bytes()?)?, ttl }
        }
        13 => Op::Clock { term: r.u64()?, elapsed: Duration::from_nanos(r.u64()?) },
        14 => Op::Key(KeyCommand::decode(r.bytes()?)?),
        15 if outer => Op::Exec(Transaction::decode(r)?),
        15 => return Err(DecodeError("a transaction inside a transaction")),
        _ => return Err(DecodeError("unknown store command")),
    };
    Ok(op)
}

/// A read-only question, answered from applied state after a read barrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// A KV read. Reply: `Kv`.
    Kv(KvQuery),
    /// Every live lease. Reply: `Leases`.
    Leases,
    /// One lease's TTL and time left. Reply: `LeaseTtl`.
    LeaseTtl {
        /// The lease.
        lease: LeaseId,
    },
    /// Who holds a lock. Reply: `Owner`.
    LockOwner {
        /// The lock's name.
        lock: Bytes,
    },
    /// A read of string values or key metadata. Reply: `Kv`.
    Key(KeyQuery),
    /// The versions of keys, for `WATCH`. Reply: `Versions`.
    Versions {
        /// The keys.
        keys: Vec<Bytes>,
    },
}

impl Query {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(VERSION);
        match self {
            Query::Kv(q) => {
                b.put_u8(1);
                put_bytes(&mut b, &q.encode());
            }
            Query::Leases => b.put_u8(2),
            Query::LeaseTtl { lease } => {
                b.put_u8(3);
                b.put_u64_le(lease.0);
            }
            Query::LockOwner { lock } => {
                b.put_u8(4);
                put_bytes(&mut b, lock);
            }
            Query::Key(q) => {
                b.put_u8(5);
                put_bytes(&mut b, &q.encode());
            }
            Query::Versions { keys } => {
                b.put_u8(6);
                put_list(&mut b, keys);
            }
        }
        b.freeze()
    }

    /// Parses the wire form.
    pub fn decode(buf: Bytes) -> Result<Query, DecodeError> {
        let mut r = Reader::new(buf);
        check_version(&mut r)?;
        let q = match r.u8()? {
            1 => Query::Kv(KvQuery::decode(r.bytes()?)?),
            2 => Query::Leases,
            3 => Query::LeaseTtl { lease: LeaseId(r.u64()?) },
            4 => Query::LockOwner { lock: r.bytes()? },
            5 => Query::Key(KeyQuery::decode(r.bytes()?)?),
            6 => Query::Versions { keys: r.list()? },
            _ => return Err(DecodeError("unknown store query")),
        };
        r.finish()?;
        Ok(q)
    }
}

pub(crate) fn check_version(r: &mut Reader) -> Result<(), DecodeError> {
    if r.u8()? != VERSION {
        return Err(DecodeError("unsupported encoding version"));
    }
    Ok(())
}

pub(crate) fn put_opt_u64(b: &mut BytesMut, v: Option<u64>) {
    match v {
        None => b.put_u8(0),
        Some(v) => {
            b.put_u8(1);
            b.put_u64_le(v);
        }
    }
}

pub(crate) fn opt_u64(r: &mut Reader) -> Result<Option<u64>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.u64()?)),
        _ => Err(DecodeError("bad option tag")),
    }
}
