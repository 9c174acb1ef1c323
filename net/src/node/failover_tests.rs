//! Three node machines on a virtual clock, stepped by hand: what a
//! follower does with requests it forwarded when the leader dies. No
//! threads and no sleeps, so the times are exact.

use super::*;
use crate::client::ClientError;
use crate::client::ClientReply;
use crate::codec::Frame;
use std::collections::VecDeque;
use synod_core::raft::{Config as RaftConfig, Raft};
use synod_core::replica::{Membership, Role};
use synod_core::service::kv::{Kv, KvCommand, KvQuery, KvReply, Limits};
use synod_core::service::{ClientId, Command, Op, Reply, Seq, Service, Store};

const ELECTION: Duration = Duration::from_millis(150);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Net<S = Kv> {
    now: Instant,
    nodes: Vec<Machine<S>>,
    up: Vec<bool>,
    /// (deliver at, from, to, frame)
    wire: VecDeque<(Instant, NodeId, NodeId, Frame)>,
    replies: Vec<(NodeId, Ticket, Result<Bytes, ClientError>, Instant)>,
}

fn machine(id: u64, now: Instant, seed: u64) -> Machine<Kv> {
    machine_with(id, now, seed, Kv::new(Limits::default()))
}

fn machine_with<S: Service>(id: u64, now: Instant, seed: u64, service: S) -> Machine<S> {
    let mut cfg = RaftConfig::new(NodeId(id), id * 7919);
    cfg.election_timeout = ELECTION;
    cfg.heartbeat_interval = Duration::from_millis(20);
    let voters = Membership::voters_only((1..=3).map(NodeId)).unwrap();
    let raft = Raft::new(cfg, now, Default::default(), voters).unwrap();
    let mut ncfg = NodeConfig::new(NodeId(id));
    ncfg.request_timeout = REQUEST_TIMEOUT;
    ncfg.seed = seed;
    Machine::new(ncfg, Box::new(raft), service, now)
}

impl Net {
    fn new() -> Net {
        Net::with(|| Kv::new(Limits::default()))
    }
}

impl<S: Service> Net<S> {
    fn with(service: impl Fn() -> S) -> Net<S> {
        let now = Instant::from_nanos(1_000_000_000);
        let nodes = (1..=3u64).map(|id| machine_with(id, now, id, service())).collect();
        Net { now, nodes, up: vec![true; 3], wire: VecDeque::new(), replies: Vec::new() }
    }

    fn node(&mut self, id: u64) -> &mut Machine<S> {
        &mut self.nodes[id as usize - 1]
    }

    /// Carries out node `i`'s outputs: writes are durable at once, frames
    /// arrive 1 ms later.
    fn pump(&mut self, i: usize) {
        let mut out = NodeOutput::default();
        loop {
            self.nodes[i].poll_output(&mut out);
            if out.is_empty() {
                return;
            }
            let from = self.nodes[i].id();
            for p in out.persist.drain(..) {
                self.nodes[i].handle_persisted(self.now, p.id, None);
            }
            for (to, frame) in out.frames.drain(..) {
                self.wire.push_back((self.now + Duration::from_millis(1), from, to, frame));
            }
            for (t, r) in out.replies.drain(..) {
                self.replies.push((from, t, r, self.now));
            }
            out.events.clear();
        }
    }

    /// Advances the clock by 1 ms: delivers what is due, fires timers.
    fn step(&mut self) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        let due: Vec<_> = {
            let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|(at, ..)| *at <= now);
            self.wire = later.into();
            due
        };
        for (_, from, to, frame) in due {
            let i = to.0 as usize - 1;
            if self.up[i] && self.up[from.0 as usize - 1] {
                self.nodes[i].handle_frame(now, from, frame);
            }
        }
        for i in 0..3 {
            if self.up[i] {
                self.nodes[i].handle_timeout(now);
                self.pump(i);
            }
        }
    }

    fn run_until(&mut self, mut done: impl FnMut(&Net<S>) -> bool, limit: Duration) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "nothing happened within {limit:?}");
            self.step();
        }
    }

    /// Runs until a leader is elected and a follower knows it: (leader,
    /// follower).
    fn settled(&mut self) -> (u64, u64) {
        self.run_until(|n| n.leader().is_some(), Duration::from_secs(3));
        let leader = self.leader().unwrap();
        let follower = if leader == 1 { 2 } else { 1 };
        self.run_until(|n| n.nodes[follower as usize - 1].leader == Some(NodeId(leader)), Duration::from_secs(1));
        (leader, follower)
    }

    fn leader(&self) -> Option<u64> {
        (0..3).find(|i| self.up[*i] && self.nodes[*i].replica().status().role == Role::Leader).map(|i| i as u64 + 1)
    }

    fn reply(&self, node: u64, t: Ticket) -> Option<&(NodeId, Ticket, Result<Bytes, ClientError>, Instant)> {
        self.replies.iter().find(|(n, tt, ..)| n.0 == node && *tt == t)
    }
}

fn set(k: &str) -> Bytes {
    KvCommand::Set { key: Bytes::copy_from_slice(k.as_bytes()), value: Bytes::from_static(b"v") }.encode()
}

fn get(k: &str) -> Bytes {
    KvQuery::Get { key: Bytes::copy_from_slice(k.as_bytes()) }.encode()
}

/// A follower forwards a write and a read to the leader, which then dies
/// with both in hand. As soon as the follower moves to a new term — well
/// within one request timeout — the write is answered `LeaderChanged` (it
/// may have been appended), and the read is sent again and answered by
/// the new leader. Before the node machine, both waited out
/// the 5 s request timeout.
#[test]
fn a_dead_leader_does_not_hold_forwarded_requests_until_their_deadline() {
    let mut net = Net::new();
    let (old, follower) = net.settled();
    let now = net.now;
    net.node(follower).handle_propose(now, Ticket(1), set("a"));
    net.node(follower).handle_query(now, Ticket(2), get("a"));
    net.pump(follower as usize - 1);
    // Both went to the leader; it dies before the frames arrive.
    net.up[old as usize - 1] = false;
    let fault = net.now;
    net.run_until(|n| n.reply(follower, Ticket(1)).is_some(), REQUEST_TIMEOUT);
    let (_, _, write, at) = net.reply(follower, Ticket(1)).unwrap().clone();
    // Answered as soon as the follower stops following the dead leader:
    // a new term, with the new leader named if it is already known.
    match write {
        Err(ClientError::LeaderChanged { leader_hint }) => assert_ne!(leader_hint, Some(NodeId(old))),
        other => panic!("the write was answered {other:?}"),
    }
    assert!(at - fault <= ELECTION * 4, "answered {:?} after the fault", at - fault);
    net.run_until(|n| n.reply(follower, Ticket(2)).is_some(), Duration::from_secs(1));
    let (_, _, read, at) = net.reply(follower, Ticket(2)).unwrap().clone();
    assert_eq!(KvReply::decode(read.expect("the read is answered")).unwrap(), KvReply::Value(None));
    assert!(at - fault <= ELECTION * 4, "read answered {:?} after the fault", at - fault);
}

/// A frame to the leader that cannot be sent (the connection is gone)
/// gives its request back at once.
#[test]
fn a_request_to_an_unreachable_leader_is_taken_back_at_once() {
    let mut net = Net::new();
    let (leader, follower) = net.settled();
    let now = net.now;
    let f = net.node(follower);
    f.handle_propose(now, Ticket(7), set("b"));
    let mut out = NodeOutput::default();
    f.poll_output(&mut out);
    assert!(out.frames.iter().any(|(to, fr)| to.0 == leader && matches!(fr, Frame::Request(_))));
    f.handle_unreachable(now, NodeId(leader));
    let mut out = NodeOutput::default();
    f.poll_output(&mut out);
    // The hint never names the node that could not be reached.
    assert_eq!(out.replies, vec![(Ticket(7), Err(ClientError::LeaderChanged { leader_hint: None }))]);
}

/// The forwarded request a follower just sent its leader, if any.
fn forwarded(m: &mut Machine<Kv>) -> Option<(NodeId, u64)> {
    let mut out = NodeOutput::default();
    m.poll_output(&mut out);
    out.frames.into_iter().find_map(|(to, f)| match f {
        Frame::Request(r) => Some((to, r.id)),
        _ => None,
    })
}

/// A leader answers a request forwarded by a follower's previous process
/// after the follower restarted: the reply must answer nothing in the new
/// process. Forwarded requests are numbered from a per-process seed; with
/// the numbering every process used to start from, the stale reply
/// completes the new process's own request with another client's bytes.
#[test]
fn a_reply_owed_to_a_previous_process_answers_nothing() {
    for (second_seed, stale_answers) in [(2, false), (1, true)] {
        let mut net = Net::new();
        net.run_until(|n| n.leader().is_some(), Duration::from_secs(3));
        let leader = net.leader().unwrap();
        let f = if leader == 1 { 2 } else { 1 };
        let i = f as usize - 1;
        net.nodes[i] = machine(f, net.now, 1);
        net.run_until(|n| n.nodes[i].leader == Some(NodeId(leader)), Duration::from_secs(2));
        let now = net.now;
        net.node(f).handle_propose(now, Ticket(1), set("old"));
        let (to, old_id) = forwarded(net.node(f)).expect("forwarded to the leader");
        // The follower restarts before the answer comes.
        net.nodes[i] = machine(f, net.now, second_seed);
        net.run_until(|n| n.nodes[i].leader == Some(NodeId(leader)), Duration::from_secs(2));
        let now = net.now;
        net.node(f).handle_propose(now, Ticket(1), set("new"));
        assert!(forwarded(net.node(f)).is_some());
        let stale = Frame::Reply(ClientReply { id: old_id, result: Ok(Bytes::from_static(b"someone else's")) });
        net.node(f).handle_frame(now, to, stale);
        let mut out = NodeOutput::default();
        net.node(f).poll_output(&mut out);
        assert_eq!(!out.replies.is_empty(), stale_answers, "seed {second_seed}: {:?}", out.replies);
    }
}

/// Reads a follower serves itself that arrive together share one
/// read-index request to the leader (as etcd batches them): the leader
/// sees one request, not one per read, and every read is answered with
/// the write acknowledged before it.
#[test]
fn follower_reads_asked_together_share_one_read_index_request() {
    let mut net = Net::new();
    let (leader, follower) = net.settled();
    let now = net.now;
    net.node(leader).handle_propose(now, Ticket(100), set("a"));
    net.run_until(|n| n.reply(leader, Ticket(100)).is_some(), Duration::from_secs(1));
    let now = net.now;
    for t in 1..=20 {
        net.node(follower).handle_follower_query(now, Ticket(t), get("a"));
    }
    let mut out = NodeOutput::default();
    net.node(follower).poll_output(&mut out);
    let requests: Vec<_> = out.frames.iter().filter(|(_, f)| matches!(f, Frame::Request(_))).collect();
    assert_eq!(requests.len(), 1, "one read-index request for 20 reads: {requests:?}");
    for (to, frame) in out.frames.drain(..) {
        net.wire.push_back((now + Duration::from_millis(1), NodeId(follower), to, frame));
    }
    net.run_until(|n| (1..=20).all(|t| n.reply(follower, Ticket(t)).is_some()), Duration::from_secs(1));
    for t in 1..=20 {
        let (_, _, r, _) = net.reply(follower, Ticket(t)).unwrap().clone();
        let want = KvReply::Value(Some(Bytes::from_static(b"v")));
        assert_eq!(KvReply::decode(r.expect("answered")).unwrap(), want, "read {t}");
    }
}

/// `INCR n` as command `seq` of session `c`, or outside any session.
fn incr(session: Option<(ClientId, u64)>) -> Bytes {
    let op = Op::Kv { cmd: KvCommand::Incr { key: Bytes::from_static(b"n"), by: 1 }, lease: None };
    match session {
        Some((c, seq)) => Command::in_session(c, Seq(seq), op).encode(),
        None => Command::new(op).encode(),
    }
}

fn store_reply(r: &Result<Bytes, ClientError>) -> Result<Reply, ClientError> {
    r.clone().map(|b| Reply::decode(b).expect("a store reply"))
}

/// A store cluster with a leader, a follower that knows it, and a session
/// opened through the leader.
fn store_net() -> (Net<Store>, u64, u64, ClientId) {
    let mut net = Net::with(Store::default);
    let (leader, follower) = net.settled();
    let now = net.now;
    net.node(leader).handle_propose(now, Ticket(100), Command::new(Op::SessionOpen).encode());
    net.run_until(|n| n.reply(leader, Ticket(100)).is_some(), Duration::from_secs(1));
    let c = match store_reply(&net.reply(leader, Ticket(100)).unwrap().2) {
        Ok(Reply::Session { client }) => client,
        other => panic!("no session: {other:?}"),
    };
    (net, leader, follower, c)
}

/// The follower forwards `INCR n` to the leader, which appends it and
/// replicates it to the follower — and dies before it answers. The new
/// leader commits the copy it holds. What is the follower's client told,
/// and how often was the counter incremented?
fn leader_dies_holding(session: bool) -> (Result<Reply, ClientError>, KvReply) {
    let (mut net, old, follower, c) = store_net();
    let now = net.now;
    let before = net.node(follower).replica().status().last_index;
    net.node(follower).handle_propose(now, Ticket(1), incr(session.then_some((c, 1))));
    net.pump(follower as usize - 1);
    net.run_until(|n| n.nodes[follower as usize - 1].replica().status().last_index > before, Duration::from_secs(1));
    net.up[old as usize - 1] = false;
    net.run_until(|n| n.reply(follower, Ticket(1)).is_some(), REQUEST_TIMEOUT);
    let answer = store_reply(&net.reply(follower, Ticket(1)).unwrap().2);
    let now = net.now;
    net.node(follower).handle_query(
        now,
        Ticket(2),
        synod_core::service::Query::Kv(KvQuery::Get { key: Bytes::from_static(b"n") }).encode(),
    );
    net.run_until(|n| n.reply(follower, Ticket(2)).is_some(), Duration::from_secs(1));
    let value = match store_reply(&net.reply(follower, Ticket(2)).unwrap().2) {
        Ok(Reply::Kv(v)) => v,
        other => panic!("read refused: {other:?}"),
    };
    (answer, value)
}

/// A write numbered in a client session is safe to send twice, so when the
/// leader it was forwarded to dies, the node sends it to the new leader
/// itself: the client gets its answer instead of "maybe applied", and the
/// second copy in the log is answered from the session, not applied
/// (Raft thesis §6.3). Without a session the same fault can only be
/// answered `LeaderChanged`.
#[test]
fn a_sessioned_write_is_sent_again_to_the_new_leader_and_applied_once() {
    let (answer, value) = leader_dies_holding(true);
    assert_eq!(answer, Ok(Reply::Kv(KvReply::Int(1))));
    assert_eq!(value, KvReply::Value(Some(Bytes::from_static(b"1"))), "applied once, though in the log twice");
    let (answer, value) = leader_dies_holding(false);
    assert!(matches!(answer, Err(ClientError::LeaderChanged { .. })), "{answer:?}");
    assert_eq!(value, KvReply::Value(Some(Bytes::from_static(b"1"))));
}

/// A leader takes a sessioned write and is cut off before it commits; the
/// others elect a new leader, whose entries overwrite it. When the old
/// leader learns its slot went to another value, it sends the write to the
/// new leader instead of answering "not applied" — and it is applied once.
#[test]
fn a_sessioned_write_whose_slot_is_lost_goes_to_the_new_leader() {
    let (mut net, old, _, c) = store_net();
    let now = net.now;
    net.node(old).handle_propose(now, Ticket(1), incr(Some((c, 1))));
    net.up[old as usize - 1] = false;
    let cut = net.now;
    net.run_until(|n| n.leader().is_some_and(|l| l != old), Duration::from_secs(3));
    let new = net.leader().unwrap();
    // The new leader commits something of its own over the old slot.
    let now = net.now;
    net.node(new).handle_propose(now, Ticket(5), incr(None));
    net.run_until(|n| n.reply(new, Ticket(5)).is_some(), Duration::from_secs(1));
    net.up[old as usize - 1] = true;
    net.run_until(|n| n.reply(old, Ticket(1)).is_some(), REQUEST_TIMEOUT - (net.now - cut));
    assert_eq!(store_reply(&net.reply(old, Ticket(1)).unwrap().2), Ok(Reply::Kv(KvReply::Int(2))));
}
