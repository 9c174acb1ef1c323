use super::harness::*;
use crate::id::{NodeId, Term};
use crate::replica::{Membership, MembershipChange, ProposeError, Replica, Role};
use crate::time::Duration;
use alloc::vec::Vec;

fn ids(v: &[u64]) -> Vec<NodeId> {
    v.iter().map(|i| NodeId(*i)).collect()
}

fn change(c: &mut Cluster, at: u64, voters: &[u64], learners: &[u64]) -> Result<(), ProposeError> {
    let now = c.now;
    c.raft(at)
        .change_membership(
            now,
            MembershipChange { voters: ids(voters), learners: ids(learners), addresses: Vec::new() },
        )
        .map(|_| ())
}

fn membership(c: &Cluster, id: u64) -> Membership {
    c.node(id).raft.membership().clone()
}

#[test]
fn a_learner_catches_up_then_is_promoted_through_joint_consensus() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..10 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    c.add_node(test_config(4), Membership::default());
    assert_eq!(c.node(4).raft.role, Role::Learner);
    change(&mut c, 1, &[1, 2, 3], &[4]).unwrap();
    c.stabilize();
    assert_eq!(membership(&c, 4).learners(), &ids(&[4])[..]);
    assert_eq!(c.applied_commands(4).len(), 10, "the learner caught up");
    assert_eq!(c.node(4).raft.role, Role::Learner);
    change(&mut c, 1, &[1, 2, 3, 4], &[]).unwrap();
    assert!(membership(&c, 1).is_joint());
    c.stabilize();
    // Auto-leave (thesis §4.3): the joint configuration is left unasked.
    for id in 1..=4 {
        let m = membership(&c, id);
        assert!(!m.is_joint(), "node {id}");
        assert_eq!(m.voters(), &ids(&[1, 2, 3, 4])[..]);
    }
    assert_eq!(c.node(4).raft.role, Role::Follower);
    c.assert_safe();
}

#[test]
fn a_removed_leader_steps_down_once_the_change_commits() {
    let mut c = Cluster::new(3);
    c.elect(1);
    change(&mut c, 1, &[2, 3], &[]).unwrap();
    c.stabilize();
    assert_ne!(c.node(1).raft.role, Role::Leader, "thesis §4.2.2");
    assert_eq!(c.node(1).raft.poll_timeout(), None, "a removed node never campaigns, so asks for no timer");
    c.advance(Duration::from_millis(400));
    let leader = c.leader().unwrap();
    assert!(leader == 2 || leader == 3);
    c.propose(leader, "after").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(2), alloc::vec![data("after")]);
}

#[test]
fn a_joint_configuration_needs_both_majorities() {
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    c.add_node(test_config(5), Membership::default());
    assert_eq!(c.node(4).raft.poll_timeout(), None, "a node that knows no configuration never campaigns");
    c.elect(1);
    // Replace {1,2,3} by {3,4,5} while 4 and 5 are unreachable.
    c.isolate(4);
    c.isolate(5);
    change(&mut c, 1, &[3, 4, 5], &[]).unwrap();
    c.stabilize();
    let joint_index = c.last_index(1);
    assert!(c.commit(1) < joint_index, "the old majority alone cannot commit the joint entry");
    c.heal();
    c.advance(Duration::from_millis(50));
    for id in 3..=5 {
        assert_eq!(membership(&c, id).voters(), &ids(&[3, 4, 5])[..]);
        assert!(!membership(&c, id).is_joint());
    }
}

#[test]
fn a_crash_in_the_middle_of_a_joint_change_still_ends_in_one_configuration() {
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    c.elect(1);
    change(&mut c, 1, &[2, 3, 4], &[]).unwrap();
    // Deliver just enough for the joint entry to commit, not the leave entry.
    for _ in 0..3 {
        c.poll();
        let batch: Vec<_> = c.queue.drain(..).collect();
        for (f, t, m) in batch {
            c.deliver(f, t, m);
        }
    }
    c.crash(1);
    c.advance(Duration::from_millis(600));
    let leader = c.leader().expect("a new leader finishes or abandons the change");
    c.stabilize();
    let m = membership(&c, leader);
    assert!(!m.is_joint(), "the new leader left the joint configuration");
    for id in 2..=4 {
        assert_eq!(membership(&c, id), m);
    }
    c.restart(1);
    c.advance(Duration::from_millis(100));
    assert_eq!(membership(&c, 1), m);
    c.assert_safe();
}

#[test]
fn one_change_at_a_time() {
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    c.elect(1);
    change(&mut c, 1, &[1, 2, 3, 4], &[]).unwrap();
    assert_eq!(change(&mut c, 1, &[1, 2], &[]), Err(ProposeError::MembershipChangePending));
    assert_eq!(change(&mut c, 2, &[1, 2], &[]), Err(ProposeError::NotLeader { leader_hint: Some(NodeId(1)) }));
    c.stabilize();
    assert_eq!(change(&mut c, 1, &[], &[]), Err(ProposeError::InvalidMembership));
    change(&mut c, 1, &[1, 2, 3], &[4]).unwrap();
    c.stabilize();
    assert_eq!(c.node(4).raft.role, Role::Learner, "a demoted voter becomes a learner");
    assert_eq!(membership(&c, 1).learners(), &ids(&[4])[..]);
}

/// Polls every node once and delivers what that produced.
fn step(c: &mut Cluster) {
    c.poll();
    c.deliver_only(|_, _, _| true);
}

#[test]
fn no_change_while_the_automatic_leave_is_uncommitted() {
    // Thesis §4.3: the joint configuration commits, the leader appends the
    // leave entry on its own, and until that commits the configuration is
    // still changing, though it is no longer joint.
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    c.elect(1);
    change(&mut c, 1, &[1, 2, 3, 4], &[]).unwrap();
    step(&mut c); // appends out
    step(&mut c); // acknowledgements back: the joint entry commits
    let m = membership(&c, 1);
    assert!(!m.is_joint() && m.voters() == &ids(&[1, 2, 3, 4])[..], "left the joint configuration: {m:?}");
    assert!(c.commit(1) < c.last_index(1), "the leave entry is not committed yet");
    assert_eq!(change(&mut c, 1, &[1, 2, 3], &[]), Err(ProposeError::MembershipChangePending));
    c.stabilize();
    change(&mut c, 1, &[1, 2, 3], &[]).unwrap();
}

#[test]
fn the_automatic_leave_happens_when_the_commit_index_jumps_past_the_joint_entry() {
    // The joint entry and a later command commit in the same step.
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    c.elect(1);
    change(&mut c, 1, &[1, 2, 3, 4], &[]).unwrap();
    c.propose(1, "after the change").unwrap();
    c.stabilize();
    for id in 1..=4 {
        assert!(!membership(&c, id).is_joint(), "node {id} is still joint");
    }
}

#[test]
fn a_truncated_configuration_entry_is_undone() {
    // Node 5 alone receives leader 1's joint entry; a leader elected
    // without node 5 then replaces it, and node 5 goes back to the configuration before it (thesis §4.1:
    // a configuration takes effect when appended, so it must be undone when
    // its entry is removed).
    let mut c = Cluster::new(5);
    c.elect(1);
    let before = membership(&c, 5);
    c.isolate(1);
    c.cut.remove(&(1, 5));
    change(&mut c, 1, &[1, 2, 3, 4], &[]).unwrap();
    c.stabilize();
    assert!(membership(&c, 5).is_joint(), "node 5 holds the joint entry");
    c.crash(1);
    c.heal();
    c.isolate(5);
    c.advance(Duration::from_millis(400));
    assert!(c.leader().is_some_and(|l| (2..=4).contains(&l)));
    c.heal();
    c.nodes.get_mut(&5).unwrap().events.clear();
    c.advance(Duration::from_millis(50));
    assert_eq!(membership(&c, 5), before);
    assert!(
        c.node(5).events.iter().any(|e| matches!(e, crate::replica::Event::MembershipChanged(m) if *m == before)),
        "the reverted configuration is reported: {:?}",
        c.node(5).events
    );
}

/// Thesis §4.1: votes do not depend on the voter's own configuration. A
/// node added and promoted before it heard of either (its configuration
/// still empty) must help elect the leader that will send it the log;
/// refusing left a cluster unable to elect (the simulator's membership
/// campaign found it: a promoted voter at term 0 refusing every pre-vote
/// after another voter lost its disk).
#[test]
fn a_node_without_a_configuration_votes_for_an_up_to_date_candidate() {
    use crate::raft::{Body, Message, VoteRequest};
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.stabilize();
    c.add_node(test_config(4), Membership::default());
    c.record = true;
    for pre_vote in [true, false] {
        let req = VoteRequest { pre_vote, transfer: false, last_index: c.last_index(2), last_term: c.term(2) };
        let term = Term(c.term(2).0 + 1);
        c.deliver(NodeId(2), NodeId(4), Message { term, body: Body::Vote(req) });
        c.poll();
        // Only node 4's answers travel, so they are the ones counted.
        c.deliver_only(|from, _, _| from == NodeId(4));
    }
    let granted = c.count_delivered(|m| matches!(&m.body, Body::VoteResponse(r) if r.granted));
    assert_eq!(granted, 2, "node 4 refused a pre-vote or a vote because its configuration is empty");
}

/// Raft Figure 2: a follower's election timer restarts on hearing from a
/// leader or granting a vote, not on seeing a higher term. A candidate
/// with a shorter log asking for a vote must not put off the election of
/// the node that can win (the simulator's membership campaign, seed 9032:
/// removed and stale nodes campaigning in turn kept the one voter with
/// the longest log from ever timing out).
#[test]
fn a_refused_candidate_does_not_restart_the_election_timer() {
    use crate::raft::{Body, Message, VoteRequest};
    // Without check-quorum a follower does not ignore the candidate while
    // its leader is live (§4.2.3), so the request is handled in full.
    let mut c = Cluster::with(3, |cfg| cfg.check_quorum = false);
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.stabilize();
    let deadline = c.node(3).raft.election_deadline;
    c.advance(Duration::from_millis(1));
    let stale =
        VoteRequest { pre_vote: false, transfer: false, last_index: crate::id::LogIndex(0), last_term: Term(0) };
    let term = Term(c.term(3).0 + 5);
    c.deliver(NodeId(2), NodeId(3), Message { term, body: Body::Vote(stale) });
    assert_eq!(c.term(3), term, "the higher term is adopted");
    assert_eq!(c.node(3).raft.election_deadline, deadline, "a refused candidate restarted the timer");
}
