//! Reconfiguration: configurations in the log, the barrier around an
//! unchosen one, phase 1 across configurations, and what restarts,
//! snapshots and hostile peers do to them.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId, Term};
use crate::paxos::multi::{Accept, Body, Message, Promise};
use crate::replica::{self, Entry, EntryKind, Membership, MessageError, ProposeError, Replica, Role};
use crate::time::Duration;
use alloc::vec;
use alloc::vec::Vec;

fn voters(m: &Membership) -> Vec<u64> {
    m.voters().iter().map(|id| id.0).collect()
}

/// The highest slot in any accept `from` has queued.
fn max_sent_slot(c: &Cluster, from: u64) -> u64 {
    c.queue
        .iter()
        .filter(|(f, _, _)| f.0 == from)
        .filter_map(|(_, _, m)| match &m.body {
            Body::Accept(a) => a.entries.last().map(|e| e.index.0),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// As if an election timeout passed with no leader heard: no lease holds.
fn forget_leader(c: &mut Cluster) {
    for id in c.nodes.keys().copied().collect::<Vec<_>>() {
        c.px(id).last_leader_contact = None;
    }
}

/// Delivers what is queued, then polls: one hop.
fn hop(c: &mut Cluster) {
    while let Some((from, to, m)) = c.queue.pop_front() {
        c.deliver(from, to, m);
    }
    c.poll();
}

#[test]
fn a_node_joins_is_promoted_and_the_leader_removes_itself() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    c.add_joiner(4);
    assert_eq!(c.role(4), Role::Learner);
    c.change(1, &[1, 2, 3], &[4]).unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(4), vec![data("a")], "the learner catches up");
    assert_eq!(c.node(4).px.membership().learners(), &[NodeId(4)]);

    c.change(1, &[1, 2, 3, 4], &[]).unwrap();
    assert_eq!(c.change(1, &[1, 2, 3], &[4]), Err(ProposeError::MembershipChangePending));
    c.stabilize();
    for id in 1..=4 {
        let m = c.node(id).px.membership().clone();
        assert!(!m.is_joint(), "node {id}: the joint configuration is left without being asked");
        assert_eq!(voters(&m), vec![1, 2, 3, 4], "node {id}");
    }
    assert_eq!(c.role(4), Role::Follower);

    c.change(1, &[2, 3, 4], &[]).unwrap();
    c.stabilize();
    assert_eq!(voters(c.node(2).px.membership()), vec![2, 3, 4]);
    assert_ne!(c.role(1), Role::Leader, "a leader outside the configuration steps down");
    assert_eq!(c.node(1).px.poll_timeout(), None, "and never campaigns again");
    c.advance(Duration::from_millis(1_000));
    let leader = c.leader().expect("the remaining voters elect a leader");
    assert_ne!(leader, 1);
    c.propose(leader, "b").unwrap();
    c.stabilize();
    for id in 2..=4 {
        assert_eq!(c.applied_commands(id), vec![data("a"), data("b")], "node {id}");
    }
    c.assert_safe();
}

#[test]
fn the_leader_sends_nothing_past_a_configuration_that_is_not_chosen() {
    let mut c = Cluster::with_membership(
        Membership::new(vec![NodeId(1), NodeId(2), NodeId(3)], vec![NodeId(4)]).unwrap(),
        |_| {},
    );
    c.elect(1);
    c.queue.clear();
    let a = c.propose(1, "a").unwrap().index.0;
    c.propose(1, "b").unwrap();
    let k = c.change(1, &[1, 2, 3, 4], &[]).unwrap().index.0;
    c.propose(1, "c").unwrap();
    c.poll();
    assert_eq!(max_sent_slot(&c, 1), k - 1, "the configuration waits for every slot below it");
    hop(&mut c);
    hop(&mut c);
    assert_eq!(c.commit(1).0, k - 1);
    assert_eq!(max_sent_slot(&c, 1), k, "then goes out alone");
    hop(&mut c);
    hop(&mut c);
    assert!(c.commit(1).0 >= k);
    assert_eq!(max_sent_slot(&c, 1), k + 1, "what follows goes once it is chosen; the leave entry waits its turn");
    c.stabilize();
    assert_eq!(c.applied_commands(4)[..], [data("a"), data("b"), data("c")]);
    assert!(a < k);
    c.assert_safe();
}

/// Voters {1,2,3} with learners 4 and 5 move to voters {1,4,5}; node 2
/// hears none of it chosen. Once 1 is gone, 2 and 3 alone are a majority of
/// the configuration 2 knows, but not of the one the cluster chose: 2 must
/// find it in the promises, ask 4 and 5, and lose to them.
#[test]
fn a_candidate_behind_a_change_needs_a_quorum_of_every_configuration_it_finds() {
    let m = Membership::new(vec![NodeId(1), NodeId(2), NodeId(3)], vec![NodeId(4), NodeId(5)]).unwrap();
    let mut c = Cluster::with_membership(m, |_| {});
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    c.cut.insert((1, 2));
    c.change(1, &[1, 4, 5], &[]).unwrap();
    c.stabilize();
    assert_eq!(voters(c.node(4).px.membership()), vec![1, 4, 5]);
    assert_eq!(voters(c.node(2).px.membership()), vec![1, 2, 3], "node 2 heard nothing");
    c.crash(1);
    c.heal();
    forget_leader(&mut c);
    // The new voters elect one of their own and choose a value.
    c.campaign(4);
    c.stabilize();
    assert_eq!(c.role(4), Role::Leader);
    c.propose(4, "x").unwrap();
    c.stabilize();
    // Node 2 campaigns with the configuration it knows, in a ballot above
    // the new leader's: were it elected, its accepts would overwrite what
    // 4 and 5 chose.
    c.record = true;
    c.px(2).highest_seen = Ballot::new(c.ballot(4).round + 1, NodeId(2));
    c.campaign(2);
    c.stabilize();
    let asked: Vec<u64> = c
        .delivered
        .iter()
        .filter(|(f, _, m)| f.0 == 2 && matches!(m.body, Body::Prepare(_)))
        .map(|(_, t, _)| t.0)
        .collect();
    assert!(asked.contains(&4) && asked.contains(&5), "prepares go to the voters found in promises: {asked:?}");
    let led = c.delivered.iter().any(|(f, _, m)| f.0 == 2 && matches!(m.body, Body::Accept(_)));
    assert!(!led, "a majority of {{1,2,3}} alone does not elect");
    c.advance(Duration::from_millis(2_000));
    let leader = c.leader().unwrap();
    c.propose(leader, "y").unwrap();
    c.stabilize();
    c.assert_safe();
    assert_eq!(c.applied_commands(5), vec![data("a"), data("x"), data("y")]);
}

#[test]
fn a_restart_keeps_the_chosen_configuration_and_a_snapshot_records_its_own() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    let before = c.commit(1);
    c.add_joiner(4);
    c.change(1, &[1, 2, 3], &[4]).unwrap();
    c.stabilize();
    // A snapshot taken below the change records the configuration then.
    let now = c.now;
    c.px(2).compact(now, before, data("state")).unwrap();
    assert_eq!(voters(&c.node(2).px.log.snapshot.meta.membership), vec![1, 2, 3]);
    assert!(c.node(2).px.log.snapshot.meta.membership.learners().is_empty());
    c.crash(2);
    c.restart(2);
    assert_eq!(c.node(2).px.membership().learners(), &[NodeId(4)], "the log's chosen configuration wins");
}

#[test]
fn a_joiner_behind_a_snapshot_installs_it_and_learns_the_configuration_after() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.propose(1, "b").unwrap();
    c.stabilize();
    let now = c.now;
    let at = c.commit(1);
    for id in 1..=3 {
        c.px(id).compact(now, at, data("ab")).unwrap();
    }
    c.add_joiner(4);
    c.change(1, &[1, 2, 3], &[4]).unwrap();
    c.propose(1, "c").unwrap();
    c.stabilize();
    assert_eq!(c.node(4).restores, 1, "slots compacted away come as a snapshot");
    assert_eq!(c.node(4).px.membership().learners(), &[NodeId(4)]);
    assert_eq!(c.applied_commands(4), vec![data("c")]);
}

#[test]
fn configuration_entries_that_do_not_decode_are_refused() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b = c.ballot(1);
    let bad =
        Entry { index: LogIndex(1), term: crate::paxos::ballot_term(b), kind: EntryKind::Membership, data: data("x") };
    let now = c.now;
    let msg = Message { ballot: b, body: Body::Accept(Accept { entries: vec![bad.clone()], commit: LogIndex(1) }) };
    let r = c.px(2).handle_message(now, NodeId(1), replica::Message::MultiPaxos(msg));
    assert!(matches!(r, Err(MessageError::Malformed(_))), "{r:?}");
    assert_eq!(c.last_index(2), LogIndex(0), "nothing accepted");
    // A promise carrying one is refused too: a candidate never adopts it.
    c.campaign(3);
    let b3 = c.ballot(3);
    let promise = Message {
        ballot: b3,
        body: Body::Promise(Promise { commit: LogIndex(0), entries: vec![Entry { term: Term(1), ..bad }] }),
    };
    let r = c.px(3).handle_message(now, NodeId(2), replica::Message::MultiPaxos(promise));
    assert!(matches!(r, Err(MessageError::Malformed(_))), "{r:?}");
}
