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
