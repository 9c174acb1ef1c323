//! Closed-loop writers, each bound to one node and to keys of its own,
//! recording every request in one shared history.

use crate::history::{History, Key, Op, Outcome, Value};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A client connection to one node. It reconnects by itself after an
/// error, so one call is one request (or one refused attempt).
pub trait Session: Send {
    /// Runs `op`, waiting at most the client timeout for the answer.
    /// A timeout or a lost connection is [`Outcome::Unknown`]; an answer
    /// proving the write was never applied, or a refused connection, is
    /// [`Outcome::Failed`].
    fn execute(&mut self, op: &Op) -> Outcome;
}

/// Shared by the writers and the fault schedule.
pub struct Shared {
    /// Time zero of the history.
    pub start: Instant,
    /// Every request.
    pub history: Mutex<History>,
    /// Set when the writers should stop.
    pub stop: AtomicBool,
}

impl Shared {
    /// A new history starting now.
    pub fn new() -> Shared {
        Shared { start: Instant::now(), history: Mutex::default(), stop: AtomicBool::new(false) }
    }

    /// History time: nanoseconds since `start`.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> History {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}

/// Keys of the SET round-robin each writer owns.
pub const SET_KEYS: u64 = 4;
/// Keys per writer: the SET keys and, where the system has it, a counter.
pub const KEYS_PER_WRITER: u64 = SET_KEYS + 1;

/// Writer `id`'s keys: `SET_KEYS` keys written with its own increasing
/// values, then its counter.
pub fn keys_of(id: u64) -> (core::ops::Range<Key>, Key) {
    let base = id * KEYS_PER_WRITER;
    (base..base + SET_KEYS, base + SET_KEYS)
}

/// Runs writer `id` until `shared.stop`: SET of increasing values over its
/// SET keys, alternating with INCR of its counter if `increments`.
pub fn run(shared: &Shared, id: u64, mut session: Box<dyn Session>, increments: bool) {
    let (sets, counter) = keys_of(id);
    let mut n: Value = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        n += 1;
        let op = if increments && n % 2 == 0 {
            Op::Incr(counter, 1)
        } else {
            Op::Set(sets.start + (n as u64 / 2) % SET_KEYS, n)
        };
        let hid = shared.history.lock().unwrap_or_else(|e| e.into_inner()).invoke(id, op.clone(), shared.now());
        let outcome = session.execute(&op);
        let retry = !matches!(outcome, Outcome::Ok(_));
        shared.history.lock().unwrap_or_else(|e| e.into_inner()).complete(hid, shared.now(), outcome);
        if retry {
            // A node that refuses at once (down, no leader yet) is not spun
            // on; this pause bounds the figures' resolution.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Starts `per_node` writers on each node; writer ids are dense from 0,
/// and writer `w` talks to node `1 + w / per_node`.
pub fn spawn(
    shared: &Arc<Shared>,
    nodes: u64,
    per_node: u64,
    increments: bool,
    mut session: impl FnMut(u64) -> Box<dyn Session>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..nodes * per_node)
        .map(|id| {
            let (s, conn) = (shared.clone(), session(1 + id / per_node));
            std::thread::spawn(move || run(&s, id, conn, increments))
        })
        .collect()
}
