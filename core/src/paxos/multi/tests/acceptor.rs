//! The acceptor's rules, one message at a time.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Accept, Body, Heartbeat, Message, NackReason, Prepare};
use crate::replica::{self, Entry, Membership, ReadError, ReadId, Replica, Role};
use crate::time::Duration;
use alloc::vec;
use alloc::vec::Vec;

fn send(c: &mut Cluster, from: u64, to: u64, ballot: Ballot, body: Body) {
    let now = c.now;
    c.px(to).handle_message(now, NodeId(from), replica::Message::MultiPaxos(Message { ballot, body })).unwrap();
}

/// The bodies `from` has queued for `to`.
fn sent(c: &mut Cluster, from: u64, to: u64) -> Vec<Body> {
    c.poll();
    c.queue.iter().filter(|(f, t, _)| f.0 == from && t.0 == to).map(|(_, _, m)| m.body.clone()).collect()
}

#[test]
fn an_acceptor_that_missed_phase_1_takes_the_leaders_ballot_from_its_accept() {
    let mut c = Cluster::new(3);
    c.isolate(3);
    c.px(1).highest_seen = Ballot::new(5, NodeId(3));
    c.elect(1);
    let b = c.ballot(1);
    assert_eq!(b, Ballot::new(6, NodeId(1)));
    assert_eq!(c.ballot(3), Ballot::ZERO, "node 3 never saw the prepare");
    c.heal();
    c.propose(1, "a").unwrap();
    c.stabilize();
    assert_eq!(c.ballot(3), b, "accepting in a ballot promises it (PMS §2.2)");
    assert_eq!(c.node(3).px.status().leader, Some(NodeId(1)));
    assert_eq!(c.applied_commands(3), vec![data("a")]);
    // An older leader's accept is now refused.
    c.queue.clear();
    let old = Ballot::new(5, NodeId(2));
    let e = Entry::command(LogIndex(2), ballot_term(old), data("stale"));
    send(&mut c, 2, 3, old, Body::Accept(Accept { entries: vec![e], commit: LogIndex(0) }));
    assert_eq!(c.last_index(3), LogIndex(1));
    assert!(sent(&mut c, 3, 2).iter().any(|m| matches!(m, Body::Nack(n) if n.reason == NackReason::Stale)));
    assert_eq!(c.ballot(3), b);
}

#[test]
fn a_duplicated_prepare_gets_the_same_promise_and_changes_nothing() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    let b = c.ballot(1);
    let before = c.node(2).disk.clone();
    c.queue.clear();
    send(&mut c, 1, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }));
    let out = sent(&mut c, 2, 1);
    assert!(matches!(&out[..], [Body::Promise(p)] if p.entries.len() == 1), "{out:?}");
    assert_eq!(c.node(2).disk, before, "nothing to write");
    assert_eq!(c.node(2).px.status().leader, Some(NodeId(1)), "still following its leader");
    assert_eq!(c.role(2), Role::Follower);
}

#[test]
fn a_deposed_leader_fails_its_pending_reads() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    let now = c.now;
    c.px(1).read(now, ReadId(5)).unwrap();
    let higher = Ballot::new(c.ballot(1).round + 1, NodeId(2));
    send(&mut c, 2, 1, higher, Body::Heartbeat(Heartbeat { commit: LogIndex(0), read_round: 1 }));
    c.poll();
    assert_eq!(c.role(1), Role::Follower);
    assert_eq!(c.node(1).px.status().leader, Some(NodeId(2)));
    let r = c.node(1).reads.iter().find(|r| r.id == ReadId(5)).map(|r| r.result);
    assert_eq!(r, Some(Err(ReadError::LeadershipLost)));
    assert_eq!(c.node(1).px.poll_timeout(), Some(c.node(1).px.election_deadline), "waits as a follower");
}

#[test]
fn the_lease_ends_exactly_one_election_timeout_after_the_leader_was_heard() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    let heard = c.node(2).px.last_leader_contact.unwrap();
    let et = c.node(2).cfg.election_timeout;
    c.now = (heard + et).saturating_sub(Duration::from_nanos(1));
    c.px(3).promised = Ballot::ZERO;
    let b = Ballot::new(c.ballot(2).round + 1, NodeId(3));
    send(&mut c, 3, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }));
    assert!(matches!(&sent(&mut c, 2, 3)[..], [Body::Nack(n)] if n.reason == NackReason::LeaderAlive));
    c.queue.clear();
    c.now = heard + et;
    send(&mut c, 3, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }));
    assert!(matches!(&sent(&mut c, 2, 3)[..], [Body::Promise(_)]));
}

#[test]
fn a_promise_budget_exactly_met_is_not_behind() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "abc").unwrap();
    c.propose(1, "def").unwrap();
    c.stabilize();
    let size: usize = (1..=2).map(|i| c.node(2).px.log.entry(LogIndex(i)).unwrap().size()).sum();
    c.px(2).cfg.max_promise_bytes = size;
    c.px(2).last_leader_contact = None;
    c.queue.clear();
    let b = Ballot::new(c.ballot(2).round + 1, NodeId(3));
    send(&mut c, 3, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }));
    assert!(matches!(&sent(&mut c, 2, 3)[..], [Body::Promise(p)] if p.entries.len() == 2));
    c.queue.clear();
    c.px(2).cfg.max_promise_bytes = size - 1;
    let b2 = Ballot::new(b.round + 1, NodeId(3));
    send(&mut c, 3, 2, b2, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }));
    assert!(matches!(&sent(&mut c, 2, 3)[..], [Body::Nack(n)] if n.reason == NackReason::Behind));
}

#[test]
fn a_learner_follows_without_voting_or_campaigning() {
    let m = Membership::new(vec![NodeId(1), NodeId(2), NodeId(3)], vec![NodeId(4)]).unwrap();
    let mut c = Cluster::with_membership(m, |_| {});
    assert_eq!(c.role(4), Role::Learner);
    assert_eq!(c.node(4).px.poll_timeout(), None, "learners never time out");
    c.elect(1);
    c.record = true;
    c.propose(1, "a").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(4), vec![data("a")]);
    assert_eq!(c.px(1).id(), NodeId(1));
    let mut peers = Vec::new();
    c.px(1).peer_status(&mut peers);
    let learner = peers.iter().find(|p| p.id == NodeId(4)).expect("the leader tracks its learner");
    assert!(!learner.voter && learner.match_index == LogIndex(1) && learner.last_heard.is_some());
    assert!(peers.iter().filter(|p| p.voter).all(|p| p.next_index == LogIndex(2)));
    assert_eq!(c.count_delivered(|m| matches!(m.body, Body::Prepare(_))), 0);
    let now = c.now;
    assert_eq!(c.px(1).transfer_leader(now, NodeId(4)), Err(replica::TransferError::NotVoter(NodeId(4))));
}

#[test]
fn a_follower_that_missed_its_leaders_new_prepare_takes_the_new_ballot_from_its_accept() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b1 = c.ballot(1);
    c.isolate(3);
    c.px(1).campaign(None); // re-elected with node 2 alone
    c.stabilize();
    let b2 = c.ballot(1);
    assert!(b2 > b1 && c.role(1) == Role::Leader);
    assert_eq!((c.ballot(3), c.node(3).px.status().leader), (b1, Some(NodeId(1))));
    c.heal();
    c.propose(1, "a").unwrap();
    c.stabilize();
    assert_eq!(c.ballot(3), b2, "accepting in the leader's new ballot promises it");
    assert_eq!(c.applied_commands(3), vec![data("a")]);
}
