use super::harness::*;
use crate::id::{Ballot, NodeId};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Body, NackReason};
use crate::replica::{Event, Replica, Role};
use crate::time::Duration;

#[test]
fn a_candidate_with_a_quorum_of_promises_leads() {
    let mut c = Cluster::new(3);
    c.elect(1);
    assert_eq!(c.leader(), Some(1));
    let b = c.ballot(1);
    assert_eq!(b.node, NodeId(1));
    for id in [2, 3] {
        assert_eq!(c.role(id), Role::Follower);
        assert_eq!(c.ballot(id), b, "followers promised the leader's ballot");
        assert_eq!(c.node(id).px.status().leader, Some(NodeId(1)));
    }
}

#[test]
fn a_single_node_cluster_leads_and_commits_alone() {
    let mut c = Cluster::new(1);
    c.advance(Duration::from_millis(300));
    assert_eq!(c.leader(), Some(1));
    let p = c.propose(1, "solo").unwrap();
    c.stabilize();
    assert_eq!(c.commit(1), p.index);
    assert_eq!(c.applied_commands(1), alloc::vec![data("solo")]);
}

#[test]
fn duelling_candidates_settle_on_one_leader() {
    let mut c = Cluster::new(5);
    c.record = true;
    // Two candidates at once; each one's prepares reach the acceptors
    // interleaved with the other's.
    c.campaign(1);
    c.campaign(5);
    c.stabilize();
    c.advance(Duration::from_millis(1000));
    let leaders: alloc::vec::Vec<u64> = (1..=5).filter(|id| c.role(*id) == Role::Leader).collect();
    assert_eq!(leaders.len(), 1, "one leader: {leaders:?}");
    let l = leaders[0];
    assert!(
        c.count_delivered(|m| matches!(m.body, Body::Nack(n) if n.reason == NackReason::Stale)) > 0,
        "the candidates did pre-empt each other"
    );
    c.propose(l, "after the duel").unwrap();
    c.stabilize();
    c.advance(Duration::from_millis(50));
    for id in 1..=5 {
        assert_eq!(c.applied_commands(id), alloc::vec![data("after the duel")]);
    }
    c.assert_safe();
}

#[test]
fn acceptors_refuse_a_candidate_while_the_leader_is_alive() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.advance(Duration::from_millis(20));
    c.record = true;
    c.campaign(3);
    c.stabilize();
    assert!(c.count_delivered(|m| matches!(m.body, Body::Nack(n) if n.reason == NackReason::LeaderAlive)) >= 2);
    assert_ne!(c.role(3), Role::Candidate);
    // Node 3 now holds a higher promise than the leader's ballot: the
    // leader is pre-empted once, runs phase 1 again and keeps leading.
    c.advance(Duration::from_millis(20));
    assert_eq!(c.leader(), Some(1), "a node that merely timed out cannot depose a live leader");
    c.propose(1, "still leading").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3), alloc::vec![data("still leading")]);
}

#[test]
fn a_higher_ballot_deposes_the_leader() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let old = c.ballot(1);
    c.isolate(1);
    c.advance(Duration::from_millis(400));
    let l = c.leader().unwrap();
    assert_ne!(l, 1);
    assert!(c.ballot(l) > old);
    c.heal();
    c.advance(Duration::from_millis(100));
    // The old leader, back with a ballot raised by its lonely campaigns,
    // pre-empts the new one at most briefly: the new leader runs phase 1
    // again at once and its followers, who know it is alive, promise.
    assert_eq!(c.role(1), Role::Follower);
    assert_eq!(c.node(1).px.status().leader, Some(NodeId(l)));
    assert_eq!(c.leader(), Some(l));
}

#[test]
fn ballots_are_fresh_per_campaign_and_owned_by_the_candidate() {
    let mut c = Cluster::new(3);
    c.isolate(2);
    let mut last = Ballot::ZERO;
    for _ in 0..5 {
        c.campaign(2);
        c.stabilize();
        let b = c.ballot(2);
        assert!(b > last && b.node == NodeId(2));
        last = b;
    }
    let now = c.now;
    assert_eq!(c.px(2).status().term, crate::paxos::ballot_term(last));
    assert!(c.px(2).poll_timeout().unwrap() > now, "retries after a randomized timeout");
}

#[test]
fn role_changes_are_reported_once_each() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b = ballot_term(c.ballot(1));
    let roles = |c: &Cluster, id: u64| -> alloc::vec::Vec<(Role, u64, Option<NodeId>)> {
        c.node(id)
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RoleChanged { role, term, leader } => Some((*role, term.0, *leader)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        roles(&c, 1),
        alloc::vec![(Role::Follower, 0, None), (Role::Candidate, b.0, None), (Role::Leader, b.0, Some(NodeId(1)))]
    );
    assert_eq!(
        roles(&c, 2),
        alloc::vec![(Role::Follower, 0, None), (Role::Follower, b.0, None), (Role::Follower, b.0, Some(NodeId(1)))]
    );
    c.advance(Duration::from_millis(50));
    assert_eq!(roles(&c, 2).len(), 3, "heartbeats change nothing worth reporting");
}

#[test]
fn promises_for_an_earlier_ballot_or_twice_from_one_acceptor_do_not_count() {
    let mut c = Cluster::new(5);
    c.campaign(1);
    c.poll();
    c.deliver_only(|_, _, _| true);
    c.poll();
    let first_round = core::mem::take(&mut c.queue); // promises for the first ballot, held back
    c.campaign(1); // times out and tries a higher ballot
    c.queue.clear();
    for (from, to, m) in first_round.iter().cloned() {
        c.deliver(from, to, m);
    }
    assert_eq!(c.role(1), Role::Candidate, "stale promises elect no one");
    // One fresh promise, delivered three times, is one vote of five.
    let b = c.ballot(1);
    let now = c.now;
    let prepare = crate::paxos::multi::Message {
        ballot: b,
        body: Body::Prepare(crate::paxos::multi::Prepare { commit: crate::id::LogIndex(0), transfer: None }),
    };
    c.px(2).handle_message(now, NodeId(1), crate::replica::Message::MultiPaxos(prepare)).unwrap();
    c.poll();
    let promise = c.queue.pop_front().unwrap();
    for _ in 0..3 {
        c.deliver(promise.0, promise.1, promise.2.clone());
    }
    assert_eq!(c.role(1), Role::Candidate);
}

#[test]
fn refusals_count_once_and_a_higher_promise_ends_a_campaign_at_once() {
    let mut c = Cluster::new(5);
    c.campaign(1);
    c.poll();
    c.queue.clear();
    let b = c.ballot(1);
    let now = c.now;
    let nack = |reason, promised| crate::paxos::multi::Message {
        ballot: b,
        body: Body::Nack(crate::paxos::multi::Nack { promised, reason }),
    };
    for _ in 0..3 {
        let m = nack(NackReason::LeaderAlive, Ballot::ZERO);
        c.px(1).handle_message(now, NodeId(2), crate::replica::Message::MultiPaxos(m)).unwrap();
    }
    assert_eq!(c.role(1), Role::Candidate, "one refusal of five, however often repeated");
    let m = nack(NackReason::LeaderAlive, Ballot::ZERO);
    c.px(1).handle_message(now, NodeId(3), crate::replica::Message::MultiPaxos(m)).unwrap();
    assert_eq!(c.role(1), Role::Candidate, "two of five: a majority may still promise");
    // Node 3, asked again, has since promised a higher ballot. Its refusal
    // is already counted, so the tally is still two of five: only the
    // pre-emption itself can end the campaign here (PTP §2.2).
    let higher = Ballot::new(b.round + 3, NodeId(4));
    let m = nack(NackReason::Stale, higher);
    c.px(1).handle_message(now, NodeId(3), crate::replica::Message::MultiPaxos(m)).unwrap();
    assert_eq!(c.role(1), Role::Follower, "pre-empted: back off at once");
    assert_eq!(c.node(1).px.highest_seen, higher);
}
