//! Carrying out what a node machine asks, as `synod-net`'s driver does —
//! writes to the simulated disk, frames onto the seeded network, replies
//! to the clients — and checking every invariant on the way.

use super::client;
use super::disk::hash_bytes;
use super::invariants::Violation;
use super::node::Pending;
use super::world::{CLIENT_LATENCY, Kind, Phase, World};
use crate::history::Outcome;
use synod_core::replica::{Event, Role};
use synod_core::service::{Reply, StoreError};
use synod_net::client::ClientError;
use synod_net::codec::Frame;
use synod_net::node::{NodeOutput, Note, Ticket};

impl World {
    /// Drains node `i`'s machine, carrying out and checking everything.
    pub(super) fn drain(&mut self, i: usize) {
        let mut out = core::mem::take(&mut self.out);
        for _ in 0..1000 {
            self.nodes[i].machine.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            self.carry_out(i, &mut out);
        }
        self.out = out;
        let id = self.nodes[i].id;
        if let Some(v) = self.nodes[i].machine.service().violation.clone() {
            self.fail(v);
        }
        if let Some(why) = self.nodes[i].machine.failure() {
            let v = Violation::new("a correct node keeps running", format!("{id:?}: {why}"));
            self.fail(v);
        }
        let commit = self.nodes[i].machine.replica().status().commit;
        if commit < self.nodes[i].commit {
            let v = Violation::new(
                "commit index never goes back",
                format!("{id:?}: {commit:?} < {:?}", self.nodes[i].commit),
            );
            self.fail(v);
        }
        self.nodes[i].commit = commit;
        self.reschedule_timer(i);
    }

    fn carry_out(&mut self, i: usize, out: &mut NodeOutput) {
        for p in out.persist.drain(..) {
            let (lo, hi) = self.params.sync_latency;
            let at = self.now + self.rng.range(lo, hi);
            self.nodes[i].disk.write(p, at);
            self.schedule_sync(i);
        }
        for read in out.log_reads.drain(..) {
            self.start_log_read(i, read);
        }
        for (to, frame) in out.frames.drain(..) {
            let Some(to) = self.position(to) else { continue };
            let mut fates = self.net.fate(i, to, &mut self.rng);
            // Consensus messages may arrive twice; a client request or
            // reply travels once on one connection, or is lost with it.
            if !matches!(frame, Frame::Replica(_)) {
                fates.truncate(1);
            }
            let life = self.nodes[to].life;
            for delay in fates {
                self.schedule(self.now + delay, Kind::Deliver { from: i, to, life, frame: frame.clone() });
            }
        }
        for ev in out.events.drain(..) {
            self.on_event(i, ev);
        }
        for note in out.notes.drain(..) {
            self.on_note(i, note);
        }
        for (ticket, result) in out.replies.drain(..) {
            self.complete(i, ticket, result);
        }
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        let id = self.nodes[i].id;
        let Event::RoleChanged { role, term, leader } = ev else { return };
        self.trace.log(self.now, || format!("{id:?} is {role:?} in {term:?} (leader {leader:?})"));
        if role != Role::Leader {
            self.nodes[i].leading = None;
            return;
        }
        self.stats.elections += 1;
        let r = self.inv.leader(id, term);
        self.check(r);
        let node = &self.nodes[i];
        let r = self.inv.new_leader(id, term, node.machine.replica(), &node.disk.durable.entries);
        self.check(r);
        self.nodes[i].leading = Some(term);
        let down = self.nodes.iter().filter(|n| !n.up).count();
        if matches!(self.phase, Phase::Faults)
            && down < (self.nodes.len() - 1) / 2
            && self.rng.chance(self.params.leader_crash)
        {
            let at = self.now + self.rng.range(0, 3_000_000);
            self.schedule(at, Kind::Crash { node: i });
        }
    }

    fn on_note(&mut self, i: usize, note: Note) {
        let id = self.nodes[i].id;
        match note {
            Note::Applied(e) => {
                if e.index != self.nodes[i].applied.next() {
                    let v = Violation::new(
                        "apply in order",
                        format!("{id:?} applied {:?} after {:?}", e.index, self.nodes[i].applied),
                    );
                    return self.fail(v);
                }
                let term = self.nodes[i].machine.replica().status().term;
                let r = self.inv.applied(id, &e, term);
                self.check(r);
                self.nodes[i].applied = e.index;
            }
            Note::Restored { index, data } => {
                self.nodes[i].applied = index;
                let r = self.inv.snapshot(id, index, hash_bytes(&data));
                self.check(r);
                self.trace.log(self.now, || format!("{id:?} restored snapshot at {index:?}"));
            }
            Note::Compacted { index, data } => {
                self.stats.snapshots += 1;
                let r = self.inv.snapshot(id, index, hash_bytes(&data));
                self.check(r);
            }
        }
    }

    /// A node machine answered a client's request.
    fn complete(&mut self, i: usize, ticket: Ticket, result: Result<bytes::Bytes, ClientError>) {
        let Some(p) = self.tickets.remove(&(i, ticket)) else { return };
        let hint = match result {
            Err(ClientError::NotLeader { leader_hint } | ClientError::LeaderChanged { leader_hint }) => {
                leader_hint.and_then(|h| self.position(h))
            }
            _ => None,
        };
        if matches!(result, Err(ClientError::LeaderChanged { .. })) {
            self.stats.leader_changed += 1;
        }
        let at = self.now + self.rng.range(0, CLIENT_LATENCY);
        match p {
            Pending::Kv { client, op } => {
                let outcome = match result {
                    Ok(bytes) => match Reply::decode(bytes) {
                        Ok(Reply::Kv(kv)) => {
                            client::ret(&self.history.ops[op].op, &kv).map_or(Outcome::Unknown, Outcome::Ok)
                        }
                        Ok(Reply::Exec(Some(replies))) => {
                            client::tx_ret(&self.history.ops[op].op, &replies).map_or(Outcome::Unknown, Outcome::Ok)
                        }
                        // Expired or closed: a copy may have been applied
                        // once; the next write opens a new session.
                        Ok(Reply::Error(StoreError::SessionExpired | StoreError::UnknownSession)) => {
                            self.session_gone(client);
                            Outcome::Unknown
                        }
                        _ => Outcome::Unknown,
                    },
                    Err(e) if not_applied(e) => Outcome::Failed,
                    Err(_) => Outcome::Unknown,
                };
                self.schedule(at, Kind::ClientDone { client, op, outcome, hint });
            }
            Pending::Open { client, attempt } => {
                let session = match result.ok().map(Reply::decode) {
                    Some(Ok(Reply::Session { client })) => Some(client),
                    _ => None,
                };
                self.schedule(at, Kind::OpenDone { client, attempt, session });
            }
            Pending::Lock { client, seq } => {
                let reply = result.ok().and_then(|b| Reply::decode(b).ok());
                self.schedule(at, Kind::LockDone { client, seq, reply, hint });
            }
        }
    }
}

/// Errors that promise the command was never applied; any other may hide
/// an applied command (a timeout, a leader change mid-flight).
fn not_applied(e: ClientError) -> bool {
    matches!(
        e,
        ClientError::NotLeader { .. }
            | ClientError::Busy
            | ClientError::Lost
            | ClientError::TooLarge
            | ClientError::Unavailable
            | ClientError::NoSpace
    )
}
