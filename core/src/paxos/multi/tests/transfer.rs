//! Leadership transfer: the target is caught up, then campaigns at once,
//! and acceptors following the leader that asked let it win.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId};
use crate::paxos::multi::{Body, Message, Nack, NackReason, Prepare, ReadMode};
use crate::replica::{self, ProposeError, ReadId, Replica, Role, TransferError};
use crate::time::Duration;

fn transfer(c: &mut Cluster, from: u64, to: u64) -> Result<(), TransferError> {
    let now = c.now;
    c.px(from).transfer_leader(now, NodeId(to))
}

fn send(c: &mut Cluster, from: u64, to: u64, ballot: Ballot, body: Body) {
    let now = c.now;
    c.px(to).handle_message(now, NodeId(from), replica::Message::MultiPaxos(Message { ballot, body })).unwrap();
}

/// The bodies `from` has queued for `to`.
fn sent(c: &mut Cluster, from: u64, to: u64) -> alloc::vec::Vec<Body> {
    c.poll();
    c.queue.iter().filter(|(f, t, _)| f.0 == from && t.0 == to).map(|(_, _, m)| m.body.clone()).collect()
}

#[test]
fn transfer_to_an_up_to_date_follower_is_immediate() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    let before = c.ballot(1);
    transfer(&mut c, 1, 2).unwrap();
    c.stabilize();
    // No time passed: the followers' leases on node 1 were overridden.
    assert_eq!(c.leader(), Some(2), "no election timeout needed");
    assert!(c.ballot(2) > before);
    assert_eq!(c.role(1), Role::Follower);
    c.propose(2, "b").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3), alloc::vec![data("a"), data("b")]);
    c.assert_safe();
}

#[test]
fn transfer_to_a_lagging_follower_catches_it_up_first() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for i in 0..20 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    c.heal();
    transfer(&mut c, 1, 3).unwrap();
    assert_eq!(c.propose(1, "late"), Err(ProposeError::TransferInProgress));
    c.stabilize();
    assert_eq!(c.leader(), Some(1), "not before node 3 holds every slot");
    c.advance(Duration::from_millis(50)); // heartbeats find and fill the gap
    assert_eq!(c.leader(), Some(3));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn an_unreachable_target_is_abandoned_after_an_election_timeout() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "x").unwrap();
    c.stabilize();
    transfer(&mut c, 1, 3).unwrap();
    assert_eq!(c.propose(1, "y"), Err(ProposeError::TransferInProgress));
    c.advance(Duration::from_millis(110));
    assert_eq!(c.leader(), Some(1));
    c.propose(1, "z").unwrap();
}

#[test]
fn transfer_requests_are_checked() {
    let mut c = Cluster::new(3);
    c.elect(1);
    assert_eq!(transfer(&mut c, 2, 3), Err(TransferError::NotLeader { leader_hint: Some(NodeId(1)) }));
    assert_eq!(transfer(&mut c, 1, 1), Err(TransferError::AlreadyLeader));
    assert_eq!(transfer(&mut c, 1, 9), Err(TransferError::NotVoter(NodeId(9))));
}

#[test]
fn a_new_target_replaces_a_stalled_transfer() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(2);
    c.propose(1, "x").unwrap(); // node 2 now lags and cannot catch up
    c.stabilize();
    transfer(&mut c, 1, 2).unwrap();
    c.stabilize();
    assert_eq!(c.leader(), Some(1));
    transfer(&mut c, 1, 3).unwrap();
    c.stabilize();
    assert_eq!(c.leader(), Some(3), "the transfer moved to the reachable target");
}

#[test]
fn only_the_followed_leaders_ballot_overrides_an_acceptors_lease() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b1 = c.ballot(1);
    c.queue.clear();
    let candidate = Ballot::above(b1, NodeId(3));
    // Naming another ballot (an older leader, or a forgery) does not help.
    let elsewhere = Ballot::new(b1.round, NodeId(2));
    assert!(elsewhere < candidate);
    send(&mut c, 3, 2, candidate, Body::Prepare(Prepare { commit: LogIndex(0), transfer: Some(elsewhere) }));
    let refused = Body::Nack(Nack { promised: b1, reason: NackReason::LeaderAlive });
    assert_eq!(sent(&mut c, 2, 3), alloc::vec![refused]);
    assert_eq!(c.ballot(2), b1);
    c.queue.clear();
    send(&mut c, 3, 2, candidate, Body::Prepare(Prepare { commit: LogIndex(0), transfer: Some(b1) }));
    assert!(matches!(sent(&mut c, 2, 3).as_slice(), [Body::Promise(_)]), "the leader it follows handed over");
    assert_eq!(c.ballot(2), candidate);
}

#[test]
fn a_stale_timeout_now_is_ignored() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b1 = c.ballot(1);
    transfer(&mut c, 1, 2).unwrap(); // node 2 leads in a higher ballot now
    c.stabilize();
    assert_eq!(c.leader(), Some(2));
    let b2 = c.ballot(3);
    send(&mut c, 1, 3, b1, Body::TimeoutNow);
    assert_eq!(c.ballot(3), b2, "node 3 no longer follows ballot {b1:?}: no campaign");
    assert_eq!(c.role(3), Role::Follower);
}

#[test]
fn a_transfer_forfeits_the_lease_for_the_rest_of_the_leadership() {
    let drift = Duration::from_millis(10);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.advance(Duration::from_millis(300));
    let l = c.leader().expect("a leader");
    let target = (1..=3).find(|id| *id != l).unwrap();
    c.read(l, 1).unwrap();
    c.poll();
    assert!(c.node(l).reads.iter().any(|r| r.id == ReadId(1)), "the lease serves at once");
    c.isolate(target);
    c.propose(l, "x").unwrap(); // the target lags: the transfer cannot finish
    c.stabilize();
    transfer(&mut c, l, target).unwrap();
    c.advance(Duration::from_millis(150)); // abandoned; rounds confirmed since
    assert_eq!(c.leader(), Some(l));
    c.propose(l, "y").unwrap();
    // A prepare the target sent before the abandonment could still arrive
    // and win over the followers' leases: no lease until a new leadership.
    c.read(l, 2).unwrap();
    c.poll();
    assert!(!c.node(l).reads.iter().any(|r| r.id == ReadId(2)), "not served without a round");
    c.stabilize();
    assert!(c.node(l).reads.iter().any(|r| r.id == ReadId(2) && r.result.is_ok()), "served after a round");
}
