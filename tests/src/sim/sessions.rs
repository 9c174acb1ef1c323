//! KV clients with exactly-once sessions (Raft thesis §6.3): half the
//! clients open a session through the log, number their writes in it, and
//! send a write that got no answer (a timeout, a leader change, a lost
//! slot) again with the same number, a few times, before recording it as
//! unknown. The history records each write once, from its first send to
//! its final answer; it is linearizable only if no copy was applied twice.
//! The node machines also send such writes on to a new leader themselves.

use super::client::Client;
use super::node::Pending;
use super::world::{CLIENT_LATENCY, CLIENT_TIMEOUT, Kind, World};
use synod_core::service::{ClientId, Command, Op as StoreOp};

/// Sends of one sessioned write before it is recorded as unknown.
const MAX_TRIES: u32 = 4;

impl World {
    /// Opens client `c`'s session: a `SessionOpen` to any node.
    pub(super) fn open_go(&mut self, c: usize) {
        if self.clients[c].opening {
            return;
        }
        let node = self.rng.below(self.nodes.len() as u64) as usize;
        let cl = &mut self.clients[c];
        cl.opening = true;
        cl.attempt += 1;
        let attempt = cl.attempt;
        let arrive = self.now + self.rng.range(0, CLIENT_LATENCY);
        self.schedule(arrive, Kind::OpenArrive { client: c, node, attempt });
        self.schedule(self.now + CLIENT_TIMEOUT, Kind::OpenDone { client: c, attempt, session: None });
    }

    pub(super) fn open_arrive(&mut self, c: usize, node: usize, attempt: u32) {
        if !self.nodes[node].up {
            return;
        }
        let now = self.local(node);
        let ticket = self.ticket(node, Pending::Open { client: c, attempt });
        self.nodes[node].machine.handle_propose(now, ticket, Command::new(StoreOp::SessionOpen).encode());
        self.drain(node);
    }

    /// The open's answer (or its timeout, `None`): with a session the
    /// client starts its operations; without, it tries again later.
    pub(super) fn open_done(&mut self, c: usize, attempt: u32, session: Option<ClientId>) {
        let cl = &mut self.clients[c];
        if !cl.opening || cl.attempt != attempt {
            return;
        }
        cl.opening = false;
        cl.session = session;
        cl.seq = 0;
        self.trace.log(self.now, || format!("client {c}: session {session:?}"));
        let think = self.rng.range(0, 20_000_000);
        self.schedule(self.now + think, Kind::ClientGo { client: c });
    }

    /// Whether client `c` sends its operation `op` again rather than
    /// record it as unknown: a write in a session still open, tried fewer
    /// than [`MAX_TRIES`] times.
    pub(super) fn retries(&self, c: usize, op: usize) -> bool {
        let cl: &Client = &self.clients[c];
        cl.sessioned && cl.session.is_some() && !self.history.ops[op].op.is_read() && cl.tries < MAX_TRIES
    }

    /// A sessioned write was refused because its session is gone: the
    /// client opens a new one for its next write.
    pub(super) fn session_gone(&mut self, c: usize) {
        self.clients[c].session = None;
    }
}
