//! Scenario tests for single-decree Paxos, on a small deterministic
//! harness: virtual time, a message queue, disks that lose unsynced writes.

use super::*;
use crate::id::Ballot;
use alloc::vec;

struct Node {
    decree: Decree,
    disk: Durable,
    unsynced: Vec<Write>,
    chosen: Option<Bytes>,
}

struct Net {
    nodes: Vec<Node>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    now: Instant,
    auto_sync: bool,
    down: Vec<bool>,
    delivered: Vec<Message>,
}

fn cfg(id: u64, n: u64) -> Config {
    Config::new(NodeId(id), (1..=n).map(NodeId).collect(), id * 31)
}

impl Net {
    fn new(n: u64) -> Net {
        let nodes = (1..=n)
            .map(|id| Node {
                decree: Decree::new(cfg(id, n), Instant::ZERO, Durable::default()).unwrap(),
                disk: Durable::default(),
                unsynced: Vec::new(),
                chosen: None,
            })
            .collect();
        Net {
            nodes,
            queue: VecDeque::new(),
            now: Instant::ZERO,
            auto_sync: true,
            down: vec![false; n as usize],
            delivered: Vec::new(),
        }
    }

    fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    fn poll(&mut self) -> bool {
        let mut any = false;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if self.down[i] {
                continue;
            }
            let mut out = Output::default();
            loop {
                n.decree.poll_output(&mut out);
                if out.is_empty() {
                    break;
                }
                any = true;
                if let Some(w) = out.write.take() {
                    if self.auto_sync {
                        n.disk = w.state.clone();
                        n.decree.handle_persisted(self.now, w.id);
                    } else {
                        n.unsynced.push(w);
                    }
                }
                let from = n.decree.id();
                self.queue.extend(out.messages.drain(..).map(|(to, m)| (from, to, m)));
                if let Some(v) = out.chosen.take() {
                    assert!(n.chosen.as_ref().is_none_or(|c| *c == v), "a node learned two values");
                    n.chosen = Some(v);
                }
            }
        }
        any
    }

    fn deliver_all(&mut self) {
        while let Some((from, to, m)) = self.queue.pop_front() {
            let i = to.0 as usize - 1;
            if self.down[i] {
                continue;
            }
            self.delivered.push(m.clone());
            let now = self.now;
            let _ = self.nodes[i].decree.handle_message(now, from, m);
        }
    }

    fn stabilize(&mut self) {
        for _ in 0..1000 {
            let polled = self.poll();
            if self.queue.is_empty() && !polled {
                return;
            }
            self.deliver_all();
        }
        panic!("did not stabilize");
    }

    fn advance(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += Duration::from_millis(1);
            let now = self.now;
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if !self.down[i] && n.decree.poll_timeout().is_some_and(|t| t <= now) {
                    n.decree.handle_timeout(now);
                }
            }
            self.stabilize();
        }
    }

    fn sync(&mut self, id: u64) {
        let now = self.now;
        let n = self.node(id);
        if let Some(w) = n.unsynced.drain(..).last() {
            n.disk = w.state;
            n.decree.handle_persisted(now, w.id);
        }
    }

    fn crash_and_restart(&mut self, id: u64) {
        let now = self.now;
        let n = self.node(id);
        n.unsynced.clear();
        n.decree = Decree::new(cfg(id, 3), now, n.disk.clone()).unwrap();
        n.chosen = None;
        self.queue.retain(|(from, _, _)| from.0 != id);
    }

    fn assert_agreement(&self) -> Bytes {
        let v = self.nodes.iter().find_map(|n| n.chosen.clone()).expect("something chosen");
        for n in &self.nodes {
            assert_eq!(n.chosen.as_ref(), Some(&v), "node {:?}", n.decree.id());
        }
        v
    }
}

fn val(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[test]
fn one_proposer_chooses_its_value_everywhere() {
    let mut net = Net::new(3);
    net.node(2).decree.propose(Instant::ZERO, val("x")).unwrap();
    net.stabilize();
    assert_eq!(net.assert_agreement(), val("x"));
    assert_eq!(net.node(2).decree.propose(Instant::ZERO, val("y")), Err(ProposeError::AlreadyChosen));
    for n in &net.nodes {
        assert_eq!(n.disk.chosen, Some(val("x")), "learned values are stored");
    }
}

#[test]
fn duelling_proposers_settle_on_one_value() {
    let mut net = Net::new(3);
    net.node(1).decree.propose(Instant::ZERO, val("one")).unwrap();
    net.node(3).decree.propose(Instant::ZERO, val("three")).unwrap();
    // Adversarial schedule: each proposer's prepares reach the acceptors
    // before the other's accepts, so each round pre-empts the other.
    net.poll();
    let mut rounds = 0;
    for _ in 0..6 {
        net.deliver_all();
        net.poll();
        rounds += 1;
    }
    assert!(rounds > 0);
    net.advance(3000);
    let v = net.assert_agreement();
    assert!(v == val("one") || v == val("three"));
    let nacks = net.delivered.iter().filter(|m| matches!(m, Message::Nack { .. })).count();
    assert!(nacks > 0, "the proposers did duel");
    // Every acceptor that accepted anything in the winning ballot holds v.
    let winner = net.nodes.iter().filter_map(|n| n.disk.acceptor.accepted.clone()).max_by_key(|(b, _)| *b).unwrap();
    assert_eq!(winner.1, v);
}

#[test]
fn many_duelling_proposers_still_agree() {
    for seed in 0..20 {
        let mut net = Net::new(5);
        for n in &mut net.nodes {
            n.decree.proposer = Proposer::new(
                n.decree.id,
                n.decree.members.clone(),
                Ballot::ZERO,
                cfg(1, 5).timing,
                seed * 7 + n.decree.id.0,
            );
        }
        for id in 1..=5 {
            let v = Bytes::from(alloc::format!("v{id}"));
            net.node(id).decree.propose(Instant::ZERO, v).unwrap();
        }
        net.advance(5000);
        net.assert_agreement();
    }
}

#[test]
fn a_promise_is_sent_only_once_durable() {
    let mut net = Net::new(3);
    net.auto_sync = false;
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    net.poll();
    assert!(net.queue.is_empty(), "prepares wait for the proposer's own promise to be durable");
    net.sync(1);
    net.poll();
    assert_eq!(net.queue.len(), 2);
    net.deliver_all();
    net.poll();
    assert!(net.queue.is_empty(), "promises wait for the acceptors' writes");
    net.sync(2);
    net.poll();
    assert_eq!(net.queue.len(), 1);
    assert!(matches!(net.queue[0].2, Message::Promise { .. }));
}

#[test]
fn an_acceptor_crash_between_promise_and_accept_keeps_the_promise() {
    let mut net = Net::new(3);
    net.auto_sync = false;
    net.down[2] = true; // node 3 is away: nodes 1 and 2 must both take part
    net.node(1).decree.propose(Instant::ZERO, val("first")).unwrap();
    net.poll();
    net.sync(1);
    net.poll();
    net.deliver_all(); // prepare reaches node 2
    net.poll();
    net.sync(2);
    net.poll(); // node 2's promise, now durable, is queued
    let b1 = match net.queue.iter().find(|(f, _, _)| f.0 == 2).map(|(_, _, m)| m.clone()) {
        Some(Message::Promise { ballot, .. }) => ballot,
        other => panic!("expected a promise, got {other:?}"),
    };
    let promise = net.queue.pop_front().unwrap();
    // Node 2 crashes after promising, before any accept arrives.
    net.crash_and_restart(2);
    assert_eq!(net.node(2).decree.acceptor().promised, b1, "the promise survived");
    net.queue.push_back(promise);
    net.auto_sync = true;
    net.stabilize();
    assert_eq!(net.node(1).chosen, Some(val("first")));
    // A later proposer with a higher ballot finds and keeps the chosen value.
    net.down[2] = false;
    let now = net.now;
    net.node(3).decree.propose(now, val("late")).unwrap();
    net.stabilize();
    assert_eq!(net.assert_agreement(), val("first"));
}

#[test]
fn an_unsynced_promise_is_lost_in_a_crash_and_was_never_sent() {
    let mut net = Net::new(3);
    net.auto_sync = false;
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    net.poll();
    net.sync(1);
    net.poll();
    net.deliver_all();
    net.poll();
    assert!(net.queue.is_empty());
    net.crash_and_restart(2);
    assert_eq!(net.node(2).decree.acceptor().promised, Ballot::ZERO, "only what was reported durable survives");
    net.auto_sync = true;
    net.sync(3);
    net.advance(2000);
    assert_eq!(net.assert_agreement(), val("v"));
}

#[test]
fn a_node_that_missed_everything_learns_through_a_quorum() {
    let mut net = Net::new(3);
    net.down[2] = true;
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    net.stabilize();
    net.down[2] = false;
    assert_eq!(net.node(3).chosen, None);
    let now = net.now;
    net.node(3).decree.learn(now);
    net.stabilize();
    assert_eq!(net.assert_agreement(), val("v"));
    assert!(net.node(3).decree.acceptor().accepted.is_none(), "learned from a peer's answer, without voting");
}

#[test]
fn a_restart_recovers_the_chosen_value() {
    let mut net = Net::new(3);
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    net.stabilize();
    net.crash_and_restart(1);
    net.poll();
    assert_eq!(net.node(1).chosen, Some(val("v")), "reported again after a restart");
    let now = net.now;
    assert_eq!(net.node(1).decree.propose(now, val("w")), Err(ProposeError::AlreadyChosen));
}

#[test]
fn hostile_messages_are_errors() {
    let mut d = Decree::new(cfg(1, 3), Instant::ZERO, Durable::default()).unwrap();
    let b = Ballot::new(1, NodeId(2));
    let now = Instant::ZERO;
    assert_eq!(d.handle_message(now, NodeId(1), Message::Prepare { ballot: b }), Err(MessageError::FromSelf));
    assert!(d.handle_message(now, NodeId(9), Message::Prepare { ballot: b }).is_err(), "stranger");
    assert!(d.handle_message(now, NodeId(3), Message::Prepare { ballot: b }).is_err(), "borrowed ballot");
    let bad = Message::Promise { ballot: b, accepted: Some((Ballot::new(5, NodeId(1)), Bytes::new())) };
    assert!(d.handle_message(now, NodeId(2), bad).is_err());
    let bad = Message::Nack { ballot: b, promised: b };
    assert!(d.handle_message(now, NodeId(2), bad).is_err());
    let stale = Message::Promise { ballot: Ballot::new(7, NodeId(1)), accepted: None };
    assert_eq!(d.handle_message(now, NodeId(2), stale), Ok(()), "a promise for no round of ours is ignored");
    assert_eq!(d.acceptor(), &AcceptorState::default());
}

#[test]
fn configs_are_checked() {
    let ok = cfg(1, 3);
    assert!(Decree::new(ok.clone(), Instant::ZERO, Durable::default()).is_ok());
    let mut bad = ok.clone();
    bad.id = NodeId(7);
    assert_eq!(Decree::new(bad, Instant::ZERO, Durable::default()).err(), Some(ConfigError::NotAMember(NodeId(7))));
    let mut bad = ok.clone();
    bad.members.push(NodeId(2));
    assert_eq!(Decree::new(bad, Instant::ZERO, Durable::default()).err(), Some(ConfigError::Duplicate(NodeId(2))));
    let mut bad = ok;
    bad.timing.backoff = Duration::ZERO;
    assert_eq!(Decree::new(bad, Instant::ZERO, Durable::default()).err(), Some(ConfigError::ZeroTiming));
}

#[test]
fn a_round_lost_in_the_network_is_retried_after_its_timeout() {
    let mut net = Net::new(3);
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    net.poll();
    net.queue.clear(); // every prepare is lost
    let retry = net.node(1).decree.poll_timeout().expect("a round timeout");
    assert!(retry > Instant::ZERO && retry <= Instant::ZERO + cfg(1, 3).timing.round_timeout);
    net.advance(1000);
    assert_eq!(net.assert_agreement(), val("v"));
    assert_eq!(net.node(1).decree.poll_timeout(), None, "nothing left to retry");
}

#[test]
fn a_report_for_a_write_not_yet_handed_out_releases_nothing() {
    let mut d = Decree::new(cfg(1, 3), Instant::ZERO, Durable::default()).unwrap();
    d.propose(Instant::ZERO, val("v")).unwrap();
    d.handle_persisted(Instant::ZERO, WriteId(99));
    let mut out = Output::default();
    d.poll_output(&mut out);
    let w = out.write.take().expect("the proposer's own promise");
    assert!(out.messages.is_empty(), "prepares wait for write {:?}", w.id);
    d.handle_persisted(Instant::ZERO, w.id);
    d.poll_output(&mut out);
    assert_eq!(out.messages.len(), 2);
}

#[test]
fn answers_that_change_nothing_need_no_write() {
    let mut d = Decree::new(cfg(2, 3), Instant::ZERO, Durable::default()).unwrap();
    let b = Ballot::new(3, NodeId(1));
    d.handle_message(Instant::ZERO, NodeId(1), Message::Prepare { ballot: b }).unwrap();
    let mut out = Output::default();
    d.poll_output(&mut out);
    let w = out.write.take().unwrap();
    d.handle_persisted(Instant::ZERO, w.id);
    d.poll_output(&mut out);
    assert_eq!(out.messages.len(), 1);
    out.messages.clear();
    // A duplicate prepare and a stale one: answered at once, nothing written.
    d.handle_message(Instant::ZERO, NodeId(1), Message::Prepare { ballot: b }).unwrap();
    d.handle_message(Instant::ZERO, NodeId(3), Message::Prepare { ballot: Ballot::new(1, NodeId(3)) }).unwrap();
    d.poll_output(&mut out);
    assert!(out.write.is_none());
    assert_eq!(out.messages[0], (NodeId(1), Message::Promise { ballot: b, accepted: None }));
    assert_eq!(out.messages[1], (NodeId(3), Message::Nack { ballot: Ballot::new(1, NodeId(3)), promised: b }));
}

#[test]
fn a_node_that_missed_every_acceptance_hears_the_announcement() {
    let mut net = Net::new(3);
    net.node(1).decree.propose(Instant::ZERO, val("v")).unwrap();
    for _ in 0..20 {
        net.poll();
        let q = core::mem::take(&mut net.queue);
        for (from, to, m) in q {
            if to.0 == 3 && matches!(m, Message::Accepted { .. }) {
                continue;
            }
            let now = net.now;
            let _ = net.node(to.0).decree.handle_message(now, from, m);
        }
    }
    assert_eq!(net.node(3).chosen, Some(val("v")), "told by the nodes that learned");
}

#[test]
fn valid_promises_and_nacks_are_taken() {
    let mut d = Decree::new(cfg(1, 3), Instant::ZERO, Durable::default()).unwrap();
    d.propose(Instant::ZERO, val("mine")).unwrap();
    let mut out = Output::default();
    d.poll_output(&mut out);
    d.handle_persisted(Instant::ZERO, out.write.take().unwrap().id);
    d.poll_output(&mut out); // our own promise reaches our proposer; prepares go out
    let Phase::Preparing { ballot, promises } = d.phase().clone() else { panic!("preparing") };
    assert_eq!(promises.len(), 1);
    // Accepted in exactly the promised ballot (a re-promise after accepting).
    let same = Message::Promise { ballot, accepted: Some((ballot, val("theirs"))) };
    assert_eq!(d.handle_message(Instant::ZERO, NodeId(2), same), Ok(()));
    assert!(matches!(d.phase(), Phase::Accepting { value, .. } if *value == val("theirs")));
    let nack = Message::Nack { ballot, promised: Ballot::new(ballot.round + 1, NodeId(3)) };
    assert_eq!(d.handle_message(Instant::ZERO, NodeId(3), nack), Ok(()));
    assert_eq!(d.phase(), &Phase::Backoff, "retries above the nack's ballot after a backoff");
    let zero = Message::Promise { ballot, accepted: Some((Ballot::ZERO, val("x"))) };
    assert!(d.handle_message(Instant::ZERO, NodeId(2), zero).is_err(), "nothing is accepted in ballot zero");
}
