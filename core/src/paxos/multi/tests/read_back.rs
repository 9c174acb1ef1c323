//! One copy of the log: an acceptor with `retained_entries` keeps only a
//! tail of its slots in memory; the leader reads older chosen slots back
//! from storage for an acceptor that lags (`replica::read_back`).

use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Body, NackReason};
use crate::replica::read_back::testing::{ReadBackMode, read_from};
use crate::replica::{LogReadError, Replica, Role};
use crate::time::Duration;
use alloc::format;

/// Three nodes keeping at most `keep` applied slots; node 3 misses `n`
/// proposals while cut off.
fn lagging(keep: u64, n: usize) -> Cluster {
    let mut c = Cluster::with(3, |cfg| {
        cfg.retained_entries = Some(keep);
        cfg.max_batch_entries = 8;
    });
    c.elect(1);
    c.isolate(3);
    for i in 0..n {
        c.propose(1, &format!("w{i}")).unwrap();
    }
    c.stabilize();
    c
}

#[test]
fn memory_keeps_only_a_tail_once_every_acceptor_has_the_slots() {
    let mut c = Cluster::with(3, |cfg| cfg.retained_entries = Some(10));
    c.elect(1);
    for i in 0..100 {
        c.propose(1, &format!("w{i}")).unwrap();
        c.stabilize();
    }
    c.advance(Duration::from_millis(20));
    let ballot = ballot_term(c.ballot(1));
    for id in 1..=3 {
        let log = &c.node(id).px.log;
        assert_eq!(log.applied, LogIndex(100));
        // Every acceptor holds everything: the leader keeps nothing
        // applied; the others keep the last 10, for a lagging candidate.
        let held = if id == 1 { 101 } else { 91 };
        assert_eq!(log.held_from(), LogIndex(held), "node {id}");
        assert_eq!(c.node(id).px.entry(LogIndex(50)), None, "node {id} dropped it from memory");
        assert_eq!(log.term(LogIndex(50)), Some(ballot), "its ballot is still known");
        assert_eq!(c.node(id).disk.entries.len(), 100, "storage keeps the log");
    }
}

#[test]
fn an_acceptor_behind_the_tail_catches_up_from_storage() {
    let mut c = lagging(4, 50);
    let held = c.node(1).px.log.held_from();
    assert!(held > LogIndex(40), "the leader keeps at most 4 applied slots for node 3: held from {held:?}");
    c.heal();
    c.record = true;
    c.advance(Duration::from_millis(50));
    assert_eq!(c.applied_commands(3).len(), 50);
    assert!(c.read_backs.served >= 5, "50 slots in batches of 8 from storage: {} reads", c.read_backs.served);
    assert!(c.read_backs.errors.is_empty(), "{:?}", c.read_backs.errors);
    c.propose(1, "after").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3).len(), 51);
    c.assert_safe();
}

#[test]
fn a_failed_or_refused_read_back_is_asked_again_later() {
    let mut c = lagging(0, 20);
    c.read_backs.mode = ReadBackMode::Fail;
    c.heal();
    c.advance(Duration::from_millis(30));
    assert_eq!(c.node(3).px.status().commit, LogIndex(0), "nothing can reach it");
    let failed = c.read_backs.errors.len();
    assert!((2..=4).contains(&failed), "asked again after each heartbeat, not in a loop: {failed}");
    c.read_backs.mode = ReadBackMode::Hold;
    c.advance(Duration::from_millis(15));
    let (_, read) = *c.read_backs.held.last().unwrap();
    let mut forged = read_from(&c.node(1).disk, &read);
    forged[0].data = data("not what was chosen").slice(..);
    forged[0].term = crate::id::Term(forged[0].term.0 + 1);
    let now = c.now;
    assert_eq!(c.px(1).handle_log_read(now, read, Ok(forged)), Err(LogReadError::WrongTerm(read.from.0)));
    c.read_backs.mode = ReadBackMode::Serve;
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn a_candidate_behind_the_trimmed_slots_is_refused_and_a_better_node_leads() {
    // Node 2 keeps nothing applied in memory: it cannot tell node 3 the
    // chosen slots in a promise (it would have to read them back), so it
    // refuses it as it refuses one behind its snapshot.
    let mut c = lagging(0, 10);
    assert!(c.node(2).px.log.held_from() > LogIndex(10));
    c.crash(1);
    c.heal();
    c.px(2).last_leader_contact = None; // the leader is gone
    c.record = true;
    c.campaign(3);
    c.stabilize();
    assert_ne!(c.role(3), Role::Leader);
    assert!(c.count_delivered(|m| matches!(m.body, Body::Nack(n) if n.reason == NackReason::Behind)) > 0);
    c.advance(Duration::from_millis(500));
    assert_eq!(c.leader(), Some(2));
    assert_eq!(c.node(3).px.status().leader, Some(NodeId(2)));
    assert_eq!(c.applied_commands(3).len(), 10, "and it brings node 3 up from storage");
    assert!(c.read_backs.served > 0);
    c.assert_safe();
}

#[test]
fn a_candidate_within_the_tail_is_told_the_chosen_slots_in_a_promise() {
    // An acceptor keeps its last applied slots in memory whatever its
    // role, so a candidate a few slots behind is not refused for them: a
    // node that alone knows them chosen could otherwise block elections.
    let mut c = lagging(10, 5);
    c.crash(1);
    c.heal();
    c.px(2).last_leader_contact = None; // the leader is gone
    c.record = true;
    c.campaign(3);
    c.stabilize();
    assert_eq!(c.role(3), Role::Leader, "node 2 promised with the 5 chosen slots");
    assert_eq!(c.count_delivered(|m| matches!(m.body, Body::Nack(_))), 0);
    c.propose(3, "after").unwrap();
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 6);
    c.assert_safe();
}
