//! Tests of the [`Store`]: one file per concern, each test named after the
//! rule it proves, and properties over random command sequences.

mod admission;
mod clock;
mod codec;
mod expiry;
mod hashes;
mod leases;
mod locks;
mod ownership;
mod properties;
mod scan;
mod sessions;
mod snapshot;
mod strings;
mod transactions;

use super::kv::{KvCommand, KvQuery, KvReply, Limits};
use super::{ClientId, Command, Config, LockOwner, Op, Query, Reply, Seq, Service, Store};
use crate::id::LogIndex;
use crate::lease::{FencingToken, LeaseId};
use crate::time::{Duration, Instant};
use bytes::Bytes;

/// A store fed through its byte interface, one log index per command.
#[derive(Clone, Debug)]
pub(super) struct Harness {
    pub(super) store: Store,
    pub(super) index: u64,
}

pub(super) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn at(n: u64) -> Instant {
    Instant::from_millis(n)
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::with(Config::default())
    }

    pub(super) fn with(config: Config) -> Harness {
        Harness { store: Store::new(config), index: 0 }
    }

    /// Applies `cmd` at the next index, through the wire encoding.
    pub(super) fn apply(&mut self, cmd: &Command) -> Reply {
        self.apply_bytes(&cmd.encode())
    }

    pub(super) fn apply_bytes(&mut self, bytes: &Bytes) -> Reply {
        self.index += 1;
        Reply::decode(self.store.apply(LogIndex(self.index), bytes)).unwrap()
    }

    pub(super) fn op(&mut self, op: Op) -> Reply {
        self.apply(&Command::new(op))
    }

    pub(super) fn session(&mut self, client: ClientId, seq: u64, op: Op) -> Reply {
        self.apply(&Command::in_session(client, Seq(seq), op))
    }

    pub(super) fn query(&self, q: &Query) -> Reply {
        Reply::decode(self.store.query(&q.encode())).unwrap()
    }

    pub(super) fn tick(&mut self, now_ms: u64) {
        assert_eq!(self.apply_bytes(&Store::tick(at(now_ms))), Reply::Ok);
    }

    pub(super) fn grant(&mut self, ttl_ms: u64) -> LeaseId {
        match self.op(Op::LeaseGrant { ttl: ms(ttl_ms) }) {
            Reply::Lease { id, ttl } => {
                assert_eq!(ttl, ms(ttl_ms));
                id
            }
            other => panic!("grant refused: {other:?}"),
        }
    }

    pub(super) fn open(&mut self) -> ClientId {
        match self.op(Op::SessionOpen) {
            Reply::Session { client } => client,
            other => panic!("open refused: {other:?}"),
        }
    }

    pub(super) fn set(&mut self, key: &str, value: &str, lease: Option<LeaseId>) -> Reply {
        self.op(Op::Kv { cmd: KvCommand::Set { key: b(key), value: b(value) }, lease })
    }

    pub(super) fn get(&self, key: &str) -> Option<Bytes> {
        match self.query(&Query::Kv(KvQuery::Get { key: b(key) })) {
            Reply::Kv(KvReply::Value(v)) => v,
            other => panic!("get refused: {other:?}"),
        }
    }

    pub(super) fn acquire(&mut self, lock: &str, lease: LeaseId) -> Reply {
        self.op(Op::Acquire { lock: b(lock), lease })
    }

    pub(super) fn locked(&mut self, lock: &str, lease: LeaseId) -> FencingToken {
        match self.acquire(lock, lease) {
            Reply::Locked { token } => token,
            other => panic!("not locked: {other:?}"),
        }
    }

    pub(super) fn release(&mut self, lock: &str, lease: LeaseId, token: FencingToken) -> Reply {
        self.op(Op::Release { lock: b(lock), lease, token })
    }

    pub(super) fn owner(&self, lock: &str) -> Option<LockOwner> {
        match self.query(&Query::LockOwner { lock: b(lock) }) {
            Reply::Owner(o) => o,
            other => panic!("owner refused: {other:?}"),
        }
    }

    pub(super) fn live(&self, lease: LeaseId) -> bool {
        self.store.leases().is_live(lease)
    }
}

/// True if `a` and `b` differ at most in the last applied index.
pub(super) fn same_state(a: &Store, b: &Store) -> bool {
    let mut a = a.clone();
    a.applied = b.applied;
    a == *b
}

pub(super) fn small_limits() -> Config {
    Config { limits: Limits { max_key_bytes: 4, max_value_bytes: 8, ..Limits::default() }, ..Config::default() }
}
