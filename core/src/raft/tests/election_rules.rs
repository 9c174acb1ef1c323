//! One election rule per test, each stated as the message a node gets and
//! what it must (not) do — so a broken rule fails a named test.

use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{Body, Message, VoteRequest, VoteResponse};
use crate::replica::{self, PersistId, Replica, Role};
use crate::time::Duration;

fn vote(term: u64, pre_vote: bool, last_index: u64, last_term: u64) -> Message {
    Message {
        term: Term(term),
        body: Body::Vote(VoteRequest {
            pre_vote,
            transfer: false,
            last_index: LogIndex(last_index),
            last_term: Term(last_term),
        }),
    }
}

fn send(c: &mut Cluster, from: u64, to: u64, m: Message) {
    let now = c.now;
    let _ = c.raft(to).handle_message(now, NodeId(from), replica::Message::Raft(m));
}

fn granted(c: &mut Cluster, from: u64, to: u64) -> Option<bool> {
    c.poll();
    let g = c.queue.iter().rev().find_map(|(f, t, m)| match m.body {
        Body::VoteResponse(r) if f.0 == from && t.0 == to => Some(r.granted),
        _ => None,
    });
    c.queue.clear();
    g
}

#[test]
fn a_candidate_that_lost_keeps_its_own_vote_for_the_term() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.handle_timeout(now);
    let t = c.term(1).0;
    c.poll();
    c.queue.clear();
    // Both peers refuse: node 1 gives up and follows in the same term.
    for from in [2, 3] {
        let no = Message { term: Term(t), body: Body::VoteResponse(VoteResponse { pre_vote: false, granted: false }) };
        send(&mut c, from, 1, no);
    }
    assert_eq!(c.node(1).raft.role, Role::Follower);
    assert_eq!(c.node(1).raft.vote, Some(NodeId(1)), "Raft §5.2: the vote for itself stands for the whole term");
    send(&mut c, 2, 1, vote(t, false, 10, t));
    assert_eq!(granted(&mut c, 1, 2), Some(false), "no second vote in one term");
}

#[test]
fn a_leader_ignores_a_disruptive_candidate() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.elect(1);
    let t = c.term(1).0;
    send(&mut c, 3, 1, vote(t + 3, false, 100, t + 2));
    assert_eq!(c.node(1).raft.role, Role::Leader, "thesis §4.2.3: a live leader does not step down for a stray vote");
    assert_eq!(c.term(1), Term(t));
}

#[test]
fn a_pre_vote_never_changes_the_receivers_term() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.advance(Duration::from_millis(300)); // node 2 no longer hears a leader
    c.heal();
    let t = c.term(2).0;
    send(&mut c, 3, 2, vote(t + 5, true, 100, t));
    assert_eq!(c.term(2), Term(t), "thesis §9.6: a pre-vote asks, it does not disrupt");
}

#[test]
fn a_follower_with_a_live_leader_refuses_pre_votes() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let t = c.term(2).0;
    send(&mut c, 3, 2, vote(t + 1, true, 100, t));
    assert_eq!(granted(&mut c, 2, 3), Some(false));
    // Once the leader has been silent for an election timeout, it grants.
    c.isolate(1);
    c.advance(Duration::from_millis(101));
    let t = c.term(2).0;
    send(&mut c, 3, 2, vote(t + 1, true, 100, t.max(1)));
    assert_eq!(granted(&mut c, 2, 3), Some(true));
}

#[test]
fn a_rejected_pre_vote_from_a_higher_term_ends_the_pre_campaign() {
    let mut c = Cluster::new(3);
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.handle_timeout(now);
    assert_eq!(c.node(1).raft.role, Role::PreCandidate);
    let no = Message { term: Term(9), body: Body::VoteResponse(VoteResponse { pre_vote: true, granted: false }) };
    send(&mut c, 2, 1, no);
    assert_eq!(c.node(1).raft.role, Role::Follower);
    assert_eq!(c.term(1), Term(9), "it learns the newer term");
}

#[test]
fn pre_vote_grants_from_a_quorum_start_a_real_election() {
    let mut c = Cluster::new(3);
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.handle_timeout(now);
    let t = c.term(1).0;
    // A stale grant (for another term) does not count.
    let stale = Message { term: Term(t + 7), body: Body::VoteResponse(VoteResponse { pre_vote: true, granted: true }) };
    send(&mut c, 2, 1, stale);
    assert_eq!(c.node(1).raft.role, Role::PreCandidate);
    let yes = Message { term: Term(t + 1), body: Body::VoteResponse(VoteResponse { pre_vote: true, granted: true }) };
    send(&mut c, 2, 1, yes);
    assert_eq!(c.node(1).raft.role, Role::Candidate);
    assert_eq!(c.term(1), Term(t + 1));
}

#[test]
fn check_quorum_waits_a_full_election_timeout() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.advance(Duration::from_millis(90));
    assert_eq!(c.node(1).raft.role, Role::Leader, "not before an election timeout without contact");
    c.advance(Duration::from_millis(150));
    assert_ne!(c.node(1).raft.role, Role::Leader);
}

#[test]
fn reporting_a_batch_never_handed_out_releases_nothing() {
    let mut c = Cluster::new(3);
    c.auto_sync = false;
    let now = c.now;
    let r = c.raft(1);
    r.cfg.pre_vote = false;
    r.election_deadline = now;
    r.handle_timeout(now);
    // A caller bug: acknowledging an id far in the future.
    c.raft(1).handle_persisted(now, PersistId(1000));
    c.poll();
    assert!(c.queue.is_empty(), "vote requests still wait for the real write");
    c.sync(1);
    c.poll();
    assert!(!c.queue.is_empty());
}

#[test]
fn learners_never_campaign() {
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), crate::replica::Membership::default());
    c.elect(1);
    let now = c.now;
    c.raft(1)
        .change_membership(
            now,
            crate::replica::MembershipChange {
                voters: alloc::vec![NodeId(1), NodeId(2), NodeId(3)],
                learners: alloc::vec![NodeId(4)],
                addresses: alloc::vec![],
            },
        )
        .unwrap();
    c.stabilize();
    let r = c.raft(4);
    r.election_deadline = now;
    let later = now + Duration::from_secs(10);
    r.handle_timeout(later);
    assert_eq!(c.node(4).raft.role, Role::Learner);
    assert_eq!(c.node(4).raft.poll_timeout(), None, "a learner never campaigns, so asks for no timer");
    assert_eq!(c.term(4), c.term(1));
}

/// The leader lease a follower honours ends exactly one election timeout
/// after its last contact with the leader: one nanosecond earlier a
/// disruptive candidate is ignored, at the boundary it is heard.
#[test]
fn a_followers_leader_lease_ends_exactly_one_election_timeout_after_contact() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    let contact = c.node(2).raft.last_leader_contact.expect("node 2 heard its leader");
    let end = contact.saturating_add(c.node(2).raft.cfg.election_timeout);
    let t = c.term(2).0;
    c.now = end.saturating_sub(Duration::from_nanos(1));
    send(&mut c, 3, 2, vote(t + 1, false, 100, t));
    assert_eq!(c.term(2), Term(t), "thesis §4.2.3: inside the lease the candidate is ignored");
    c.now = end;
    send(&mut c, 3, 2, vote(t + 1, false, 100, t));
    assert_eq!(c.term(2), Term(t + 1), "the lease is over: the higher term is adopted");
}

/// A real (not pre-) vote refused in a higher term still tells the
/// candidate about that term: it must step down to it (Raft Figure 2).
#[test]
fn a_refused_vote_from_a_higher_term_makes_the_candidate_adopt_it() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let t = c.term(2).0;
    let reply =
        Message { term: Term(t + 3), body: Body::VoteResponse(VoteResponse { pre_vote: false, granted: false }) };
    send(&mut c, 3, 2, reply);
    assert_eq!(c.term(2), Term(t + 3));
    assert_eq!(c.node(2).raft.role, Role::Follower);
}

/// A pre-vote is granted only for a term above the receiver's: a
/// pre-candidate that is not ahead of us has nothing to offer (thesis
/// §9.6), even once the leader has gone quiet.
#[test]
fn a_pre_vote_for_the_receivers_own_term_is_refused() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.advance(Duration::from_millis(101)); // node 2's leader lease is over
    c.heal();
    c.queue.clear();
    let t = c.term(2).0;
    send(&mut c, 3, 2, vote(t, true, 100, t));
    assert_eq!(granted(&mut c, 2, 3), Some(false));
    send(&mut c, 3, 2, vote(t + 1, true, 100, t));
    assert_eq!(granted(&mut c, 2, 3), Some(true), "the same request one term ahead is granted");
}
