//! Client requests a node is holding: proposals waiting to commit, reads
//! waiting for confirmation or application, requests forwarded to the
//! leader, and requests parked until a leader is known.

use super::machine::NodeOutput;
use crate::client::{ClientError, ClientReply, RequestOp};
use crate::codec::Frame;
use bytes::Bytes;
use std::collections::BTreeMap;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, ReadId};
use synod_core::time::Instant;

/// Names a request a client of this process submitted; its answer comes
/// back with it. Chosen by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u64);

/// Where an answer goes.
pub(super) enum Requester {
    /// A client in this process.
    Local(Ticket),
    /// A peer that forwarded the request to us.
    Remote { from: NodeId, id: u64 },
    /// The node itself (an automatic promotion): nobody waits.
    Internal,
    /// Clients of this process whose reads this node serves from its own
    /// state, once it has applied up to the index the leader confirms:
    /// every read that arrived before one [`RequestOp::ReadIndex`] was
    /// asked shares its answer (etcd batches its read-index requests the
    /// same way), so the leader sees one request per batch, not per read.
    Readers(Vec<(Ticket, ReadWant)>),
}

/// What a confirmed read does once the service reaches its index.
pub(super) enum ReadWant {
    /// Answer a service query.
    Query(Bytes),
    /// Answer with the confirmed index (a follower asked for it).
    Index,
    /// Answer with a backup of the service (`crate::backup`).
    Backup,
}

impl Requester {
    pub fn answer(self, out: &mut NodeOutput, result: Result<Bytes, ClientError>) {
        match self {
            Requester::Local(ticket) => out.replies.push((ticket, result)),
            Requester::Readers(readers) => {
                out.replies.extend(readers.into_iter().map(|(ticket, _)| (ticket, result.clone())));
            }
            Requester::Remote { from, id } => out.frames.push((from, Frame::Reply(ClientReply { id, result }))),
            Requester::Internal => {}
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Requester::Remote { .. })
    }
}

/// A request not yet handed to the replica.
pub(super) struct Waiting {
    pub op: RequestOp,
    pub requester: Requester,
    pub deadline: Instant,
    /// A write safe to send again (see `routing`): sent again to the next
    /// leader instead of answered "maybe applied".
    pub resend: bool,
}

/// A proposal the replica took, waiting for its slot to commit.
pub(super) struct Proposed {
    /// The term (ballot) it was proposed in.
    pub term: Term,
    /// The command, to recognise it if a later Multi-Paxos leader
    /// re-proposes it under its own ballot (see `replica::Proposal`).
    pub command: Bytes,
    pub requester: Requester,
    /// A membership change rather than a service command.
    pub membership: bool,
    /// For a write safe to send again, the deadline until which it is
    /// sent again should its slot go to another value.
    pub resend: Option<Instant>,
}

impl Proposed {
    /// The answer for the client, now that `entry` committed in our slot
    /// and applying it (if a command) gave `reply`.
    pub fn outcome(&self, entry: &Entry, reply: Option<Bytes>) -> Result<Bytes, ClientError> {
        settle(self.term, &self.command, entry, reply)
    }
}

/// What a client is told when `entry` commits in the slot of its command
/// `command`, proposed in `term`; `reply` is what applying `entry` gave.
fn settle(term: Term, command: &Bytes, entry: &Entry, reply: Option<Bytes>) -> Result<Bytes, ClientError> {
    match reply {
        Some(bytes) if entry.term == term => Ok(bytes),
        // The same command under another term: with Multi-Paxos, our own
        // value re-proposed by a later leader — or an identical command
        // from another client. Applied or not, we cannot tell.
        Some(_) if entry.data == *command => Err(ClientError::Timeout),
        // Another value took the slot. A value is only ever re-proposed
        // in its own slot, so ours was never applied anywhere.
        _ => Err(ClientError::Lost),
    }
}

#[derive(Default)]
pub(super) struct Requests {
    /// Proposals by log index.
    pub proposals: BTreeMap<u64, Proposed>,
    /// Reads waiting for the replica to confirm them.
    pub reads: BTreeMap<ReadId, (ReadWant, Requester)>,
    /// Confirmed reads waiting for the service to reach their index.
    pub ready_reads: Vec<(LogIndex, ReadWant, Requester)>,
    /// Reads to serve here that arrived since the last read-index request
    /// went out; asked for together when the machine's output is taken.
    pub readers: Vec<(Ticket, ReadWant)>,
    /// Requests sent on to the leader, by forwarding id, with the node
    /// they went to.
    pub forwarded: BTreeMap<u64, (NodeId, Waiting)>,
    /// Requests waiting for a leader to be known.
    pub parked: Vec<Waiting>,
    /// Membership changes whose joint configuration committed, waiting
    /// for the configuration that leaves it, with their deadlines.
    pub settling: Vec<(Requester, Instant)>,
    next_read: u64,
    next_forward: u64,
}

impl Requests {
    pub fn len(&self) -> usize {
        self.proposals.len()
            + self.reads.len()
            + self.ready_reads.len()
            + self.forwarded.len()
            + self.parked.len()
            + self.settling.len()
            + self.readers.len()
    }

    pub fn next_read_id(&mut self) -> ReadId {
        self.next_read += 1;
        ReadId(self.next_read)
    }

    pub fn next_forward_id(&mut self) -> u64 {
        self.next_forward = self.next_forward.wrapping_add(1);
        self.next_forward
    }

    /// Numbers forwarded requests from `seed` on: two processes of one
    /// node use disjoint ranges (in all likelihood), so a late reply to the
    /// previous one answers nothing here.
    pub fn number_forwards_from(&mut self, seed: u64) {
        self.next_forward = seed;
    }

    /// The forwarded request `id`, if `from` is the node it went to: a
    /// reply from any other node answers nothing (a node forging replies
    /// could otherwise complete another client's request with its bytes).
    pub fn answered_by(&mut self, id: u64, from: NodeId) -> Result<Waiting, Option<NodeId>> {
        match self.forwarded.get(&id) {
            Some((to, _)) if *to == from => self.forwarded.remove(&id).map(|(_, w)| w).ok_or(None),
            Some((to, _)) => Err(Some(*to)),
            None => Err(None),
        }
    }

    /// The earliest deadline among forwarded, parked and settling requests.
    pub fn next_deadline(&self) -> Option<Instant> {
        let waiting = self.forwarded.values().map(|(_, w)| w).chain(self.parked.iter()).map(|w| w.deadline);
        waiting.chain(self.settling.iter().map(|(_, d)| *d)).min()
    }

    /// Removes every settling change past its deadline: its joint phase
    /// committed, so it will be left, but not in the time the client gave.
    pub fn expire_settling(&mut self, now: Instant) -> Vec<Requester> {
        let (gone, keep): (Vec<_>, Vec<_>) = self.settling.drain(..).partition(|(_, d)| *d <= now);
        self.settling = keep;
        gone.into_iter().map(|(r, _)| r).collect()
    }

    /// Removes every forwarded or parked request past its deadline.
    pub fn expire(&mut self, now: Instant) -> Vec<Waiting> {
        let mut out = Vec::new();
        let expired: Vec<u64> =
            self.forwarded.iter().filter(|(_, (_, w))| w.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some((_, w)) = self.forwarded.remove(&id) {
                out.push(w);
            }
        }
        let (gone, keep): (Vec<_>, Vec<_>) = self.parked.drain(..).partition(|w| w.deadline <= now);
        self.parked = keep;
        out.extend(gone);
        out
    }

    /// Everything, for shutdown.
    pub fn drain_all(&mut self) -> Vec<Requester> {
        let mut out: Vec<Requester> = Vec::new();
        out.extend(core::mem::take(&mut self.proposals).into_values().map(|p| p.requester));
        out.extend(core::mem::take(&mut self.reads).into_iter().map(|(_, (_, r))| r));
        out.extend(self.ready_reads.drain(..).map(|(_, _, r)| r));
        out.extend(core::mem::take(&mut self.forwarded).into_iter().map(|(_, (_, w))| w.requester));
        out.extend(self.parked.drain(..).map(|w| w.requester));
        out.extend(self.settling.drain(..).map(|(r, _)| r));
        if !self.readers.is_empty() {
            out.push(Requester::Readers(core::mem::take(&mut self.readers)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn only_the_node_asked_can_answer_a_forwarded_request() {
        let mut r = Requests::default();
        let w = Waiting {
            op: RequestOp::Propose(cmd("set")),
            requester: Requester::Local(Ticket(1)),
            deadline: Instant::MAX,
            resend: false,
        };
        let id = r.next_forward_id();
        r.forwarded.insert(id, (NodeId(2), w));
        assert!(matches!(r.answered_by(id, NodeId(3)), Err(Some(NodeId(2)))), "a reply forged by node 3");
        assert_eq!(r.forwarded.len(), 1, "the request still waits for node 2");
        assert!(r.answered_by(id, NodeId(2)).is_ok());
        assert!(matches!(r.answered_by(id, NodeId(2)), Err(None)), "answered once");
    }

    #[test]
    fn our_entry_in_our_term_answers_with_its_reply() {
        let e = Entry::command(LogIndex(5), Term(3), cmd("incr x"));
        assert_eq!(settle(Term(3), &cmd("incr x"), &e, Some(cmd("1"))), Ok(cmd("1")));
    }

    /// Multi-Paxos re-proposes a recovered value under the new leader's
    /// ballot: the client must hear "maybe applied", never "not applied"
    /// (found by the nemesis as non-linearizable histories after
    /// whole-cluster crashes).
    #[test]
    fn our_command_under_another_term_may_have_been_applied() {
        let e = Entry::command(LogIndex(5), Term(9), cmd("incr x"));
        assert_eq!(settle(Term(3), &cmd("incr x"), &e, Some(cmd("1"))), Err(ClientError::Timeout));
    }

    #[test]
    fn another_value_in_our_slot_means_ours_was_never_applied() {
        let e = Entry::command(LogIndex(5), Term(9), cmd("del x"));
        assert_eq!(settle(Term(3), &cmd("incr x"), &e, Some(cmd("1"))), Err(ClientError::Lost));
        let noop = Entry::noop(LogIndex(5), Term(9));
        assert_eq!(settle(Term(3), &cmd("incr x"), &noop, None), Err(ClientError::Lost));
    }
}
