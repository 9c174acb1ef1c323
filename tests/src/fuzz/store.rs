//! The replicated Store fed arbitrary command bytes and ticks: every
//! reply is a value, never a panic, and the lease and lock properties
//! hold after every command; snapshot and restore give the same state.

use crate::sim::locks;
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use synod_core::id::LogIndex;
use synod_core::lease::LeaseId;
use synod_core::service::kv::KvCommand;
use synod_core::service::{Command, Op, Service, Store};
use synod_core::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Step {
    /// Raw bytes as a command, as a hostile client might send.
    Raw(Vec<u8>),
    Tick(u16),
    Grant(u16),
    KeepAlive(u8),
    Revoke(u8),
    Acquire {
        lock: u8,
        lease: u8,
    },
    TryAcquire {
        lock: u8,
        lease: u8,
    },
    Release {
        lock: u8,
        lease: u8,
        token: u16,
    },
    Put {
        key: u8,
        lease: Option<u8>,
    },
    Snapshot,
    /// A leader's tick as durations: leaders 0–3, terms in any order.
    Clock {
        term: u8,
        ms: u16,
    },
}

/// Drives a Store with arbitrary steps.
pub fn store_commands(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut store = Store::default();
    let mut index = 0u64;
    let mut now = Instant::from_millis(1);
    let name = |b: u8| Bytes::from(vec![b'l', b % 3]);
    for _ in 0..512 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        let cmd = match step {
            Step::Raw(b) => Bytes::from(b),
            Step::Tick(ms) => {
                now += Duration::from_millis(u64::from(ms));
                Store::tick(now)
            }
            Step::Grant(ms) => Command::new(Op::LeaseGrant { ttl: Duration::from_millis(u64::from(ms)) }).encode(),
            Step::KeepAlive(l) => Command::new(Op::LeaseKeepAlive { lease: LeaseId(u64::from(l % 8)) }).encode(),
            Step::Revoke(l) => Command::new(Op::LeaseRevoke { lease: LeaseId(u64::from(l % 8)) }).encode(),
            Step::Acquire { lock, lease } => {
                Command::new(Op::Acquire { lock: name(lock), lease: LeaseId(u64::from(lease % 8)) }).encode()
            }
            Step::TryAcquire { lock, lease } => {
                Command::new(Op::TryAcquire { lock: name(lock), lease: LeaseId(u64::from(lease % 8)) }).encode()
            }
            Step::Release { lock, lease, token } => Command::new(Op::Release {
                lock: name(lock),
                lease: LeaseId(u64::from(lease % 8)),
                token: synod_core::lease::FencingToken::from_index(LogIndex(u64::from(token))),
            })
            .encode(),
            Step::Put { key, lease } => Command::new(Op::Kv {
                cmd: KvCommand::Set { key: Bytes::from(vec![key % 4]), value: Bytes::from_static(b"v") },
                lease: lease.map(|l| LeaseId(u64::from(l % 8))),
            })
            .encode(),
            Step::Clock { term, ms } => Store::clock_tick(u64::from(term % 4), Duration::from_millis(u64::from(ms))),
            Step::Snapshot => {
                let snap = store.snapshot();
                let mut other = Store::default();
                other.restore(&snap).expect("a snapshot restores");
                assert_eq!(other.snapshot(), snap, "restore(snapshot) is the same state");
                continue;
            }
        };
        index += 1;
        let before = locks::before(&store);
        let _reply = store.apply(LogIndex(index), &cmd);
        if let Err(v) = locks::check(&before, &store, &cmd) {
            panic!("{}: {}", v.property, v.detail);
        }
    }
}
