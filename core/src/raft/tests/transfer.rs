use super::harness::*;
use crate::id::NodeId;
use crate::replica::{ProposeError, Replica, Role, TransferError};
use crate::time::Duration;

fn transfer(c: &mut Cluster, from: u64, to: u64) -> Result<(), TransferError> {
    let now = c.now;
    c.raft(from).transfer_leader(now, NodeId(to))
}

#[test]
fn transfer_to_an_up_to_date_follower_is_immediate() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let term = c.term(1);
    transfer(&mut c, 1, 2).unwrap();
    c.stabilize();
    assert_eq!(c.leader(), Some(2), "no election timeout needed");
    assert_eq!(c.term(2), term.next());
    assert_eq!(c.node(1).raft.role, Role::Follower);
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
    assert_eq!(c.leader(), Some(3));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn an_unreachable_target_is_abandoned_after_an_election_timeout() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    // Lag node 3 so it needs catching up, which cannot happen.
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
    c.isolate(2); // the first target never answers
    transfer(&mut c, 1, 2).unwrap();
    c.stabilize();
    assert_eq!(c.leader(), Some(1));
    transfer(&mut c, 1, 3).unwrap();
    c.stabilize();
    assert_eq!(c.leader(), Some(3), "the transfer moved to the reachable target");
}
