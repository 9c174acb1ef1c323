use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{Body, Message, VoteRequest};
use crate::replica::{self, Replica, Role};
use crate::time::Duration;

#[test]
fn three_nodes_elect_exactly_one_leader_and_commit_its_noop() {
    let mut c = Cluster::new(3);
    c.advance(Duration::from_millis(400));
    let leader = c.leader().expect("a leader");
    let term = c.term(leader);
    for id in 1..=3 {
        assert_eq!(c.term(id), term);
        assert_eq!(c.node(id).raft.leader, Some(NodeId(leader)));
        // Raft §8: the new leader's no-op is committed everywhere.
        assert_eq!(c.commit(id), LogIndex(1));
    }
    let leaders = (1..=3).filter(|id| c.node(*id).raft.role == Role::Leader).count();
    assert_eq!(leaders, 1);
}

#[test]
fn split_vote_is_resolved_by_randomized_timeouts() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.crash(3);
    let now = c.now;
    // Both time out at once: each votes for itself, neither can win.
    for id in [1, 2] {
        let r = c.raft(id);
        r.election_deadline = now;
        r.handle_timeout(now);
    }
    c.stabilize();
    assert_eq!(c.leader(), None, "a split vote elects no one");
    assert_eq!(c.term(1), c.term(2));
    // Randomized timeouts break the tie (Raft §5.2).
    c.advance(Duration::from_millis(400));
    assert!(c.leader().is_some());
}

#[test]
fn votes_go_only_to_up_to_date_logs() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.elect(1);
    c.isolate(3);
    for i in 0..5 {
        c.propose(1, &alloc::format!("x{i}")).unwrap();
    }
    c.stabilize();
    assert_eq!(c.commit(2), LogIndex(6));
    c.crash(1);
    c.heal();
    // Node 3 missed five committed entries: §5.4.1 forbids electing it.
    c.elect(3);
    assert_ne!(c.node(3).raft.role, Role::Leader);
    c.advance(Duration::from_millis(500));
    assert_eq!(c.leader(), Some(2));
    assert_eq!(c.applied_commands(2).len(), 5);
}

#[test]
fn pre_vote_keeps_a_partitioned_node_from_raising_terms() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let term = c.term(1);
    c.isolate(3);
    c.advance(Duration::from_millis(2000));
    assert_eq!(c.term(3), term, "pre-vote fails without a quorum, so the term stays put");
    c.heal();
    c.advance(Duration::from_millis(100));
    assert_eq!(c.leader(), Some(1), "rejoining does not disrupt the leader");
    assert_eq!(c.term(1), term);
}

#[test]
fn without_pre_vote_a_partitioned_node_inflates_its_term() {
    // The counterpart of the test above: shows that test would notice.
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.elect(1);
    let term = c.term(1);
    c.isolate(3);
    c.advance(Duration::from_millis(2000));
    assert!(c.term(3) > term);
}

#[test]
fn check_quorum_steps_down_an_isolated_leader() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.advance(Duration::from_millis(250));
    assert_ne!(c.node(1).raft.role, Role::Leader, "a leader without quorum contact steps down");
    let other = c.leader().expect("the majority elects a new leader");
    assert_ne!(other, 1);
}

#[test]
fn followers_ignore_a_disruptive_candidate_while_their_leader_is_live() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let term = c.term(2);
    let vote = Message {
        term: Term(term.0 + 5),
        body: Body::Vote(VoteRequest {
            pre_vote: false,
            transfer: false,
            last_index: LogIndex(100),
            last_term: Term(term.0 + 4),
        }),
    };
    let now = c.now;
    c.raft(2).handle_message(now, NodeId(3), replica::Message::Raft(vote)).unwrap();
    assert_eq!(c.term(2), term, "thesis §4.2.3: no term change while the leader is live");
    assert_eq!(c.node(2).raft.vote, Some(NodeId(1)));
}

#[test]
fn a_candidate_steps_down_on_hearing_from_a_leader_of_its_term() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.elect(1);
    c.isolate(3);
    let now = c.now;
    let r = c.raft(3);
    r.election_deadline = now;
    r.handle_timeout(now);
    assert_eq!(c.node(3).raft.role, Role::Candidate);
    c.heal();
    c.advance(Duration::from_millis(300));
    let leader = c.leader().unwrap();
    for id in 1..=3 {
        assert_eq!(c.node(id).raft.leader, Some(NodeId(leader)));
    }
}

#[test]
fn a_single_voter_elects_itself() {
    let mut c = Cluster::new(1);
    c.advance(Duration::from_millis(300));
    assert_eq!(c.leader(), Some(1));
    c.propose(1, "solo").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(1), alloc::vec![data("solo")]);
}

#[test]
fn a_follower_that_refuses_a_stale_pre_vote_campaigns_at_once() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "x").unwrap();
    c.stabilize();
    c.crash(1);
    c.heal();
    // Node 3, whose log lacks the last entry, times out first; node 2,
    // the only one that can win (§5.4.1), would wait for its own timer.
    let t0 = c.now;
    c.raft(2).election_deadline = t0 + Duration::from_secs(10);
    c.raft(3).election_deadline = t0 + Duration::from_millis(105);
    c.advance(Duration::from_millis(110));
    assert_eq!(c.leader(), Some(2), "node 2 campaigned when it refused node 3's pre-vote");
    assert_eq!(c.applied_commands(2).len(), 1);
}

#[test]
fn a_follower_that_still_hears_its_leader_refuses_a_stale_pre_vote_and_stays() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "x").unwrap();
    c.stabilize();
    c.heal();
    let term = c.term(2);
    // Node 3 asks while node 2 heard the leader within an election timeout.
    c.elect(3);
    assert_eq!(c.leader(), Some(1));
    assert_eq!(c.term(2), term);
    assert_eq!(c.node(2).raft.role, Role::Follower);
}
