//! Linearizable reads: a quorum round after the read arrives, or a lease.

use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::paxos::multi::{Body, ReadMode};
use crate::replica::{ReadError, ReadId, Replica, Role};
use crate::time::Duration;

fn read_result(c: &Cluster, id: u64, rid: u64) -> Option<Result<LogIndex, ReadError>> {
    c.node(id).reads.iter().find(|r| r.id == ReadId(rid)).map(|r| r.result)
}

#[test]
fn a_read_waits_for_a_quorum_round_after_it_arrives() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let p = c.propose(1, "w").unwrap();
    c.stabilize();
    c.read(1, 7).unwrap();
    c.poll();
    assert_eq!(read_result(&c, 1, 7), None, "not before the acceptors confirm");
    c.stabilize();
    assert_eq!(read_result(&c, 1, 7), Some(Ok(p.index)), "at least every acknowledged write");
    assert_eq!(c.read(2, 8), Err(ReadError::NotLeader { leader_hint: Some(NodeId(1)) }));
}

#[test]
fn many_reads_share_one_round() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.record = true;
    for rid in 0..100 {
        c.read(1, rid).unwrap();
    }
    c.stabilize();
    assert_eq!(c.node(1).reads.len(), 100);
    assert_eq!(c.count_delivered(|m| matches!(m.body, Body::Heartbeat(_))), 2, "one round to each acceptor");
}

#[test]
fn an_isolated_leader_never_confirms_a_read() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.read(1, 1).unwrap();
    c.advance(Duration::from_millis(80));
    assert_eq!(read_result(&c, 1, 1), None);
    c.advance(Duration::from_millis(300));
    assert_ne!(c.role(1), Role::Leader);
    assert_eq!(read_result(&c, 1, 1), Some(Err(ReadError::LeadershipLost)));
}

#[test]
fn a_new_leader_reads_only_once_the_slots_it_recovered_are_chosen() {
    let mut c = Cluster::new(5);
    c.elect(1);
    let w = c.propose(1, "acknowledged").unwrap();
    c.poll();
    // Chosen by nodes 1, 2 and 3, but only the leader learns it; nodes 4
    // and 5 never hear of it.
    c.deliver_only(|_, to, m| to.0 <= 3 && is_accept(m));
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, Body::Accepted(_)));
    c.poll();
    c.queue.clear();
    assert_eq!(c.commit(1), w.index, "the write was acknowledged");
    assert_eq!(c.commit(2), LogIndex(0));
    c.crash(1);
    for id in 2..=5 {
        c.px(id).last_leader_contact = None; // the leader is gone
    }
    // Node 5 leads with promises from 2 (which holds the write) and 4. Its
    // accepts are lost: the recovered slot is not chosen again yet, while
    // heartbeats (and read rounds) get through.
    c.cut.insert((5, 3));
    c.campaign(5);
    for _ in 0..3 {
        c.poll();
        c.deliver_only(|from, _, m| !(from.0 == 5 && is_accept(m)));
    }
    assert_eq!(c.role(5), Role::Leader);
    c.read(5, 1).unwrap();
    for _ in 0..60 {
        c.now += Duration::from_millis(1);
        c.fire_timers();
        c.poll();
        c.deliver_only(|from, _, m| !(from.0 == 5 && is_accept(m)));
    }
    assert_eq!(c.role(5), Role::Leader);
    assert_eq!(read_result(&c, 5, 1), None, "a read now could miss the acknowledged write");
    c.heal();
    c.advance(Duration::from_millis(40));
    let at = read_result(&c, 5, 1).expect("answered").unwrap();
    assert!(at >= w.index, "the read sees the write acknowledged before it");
}

#[test]
fn reads_beyond_the_limit_are_busy() {
    let mut c = Cluster::with(3, |cfg| cfg.max_pending_reads = 2);
    c.elect(1);
    c.read(1, 1).unwrap();
    c.read(1, 2).unwrap();
    assert_eq!(c.read(1, 3), Err(ReadError::Busy));
    c.poll(); // both now wait on a round
    assert_eq!(c.read(1, 3), Err(ReadError::Busy));
    c.stabilize();
    c.read(1, 3).unwrap();
}

#[test]
fn a_leader_pre_empted_mid_read_fails_the_read_and_runs_phase_1_again() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.read(1, 1).unwrap();
    let b = c.ballot(1);
    let higher = crate::id::Ballot::new(b.round + 1, NodeId(3));
    let nack =
        Body::Nack(crate::paxos::multi::Nack { promised: higher, reason: crate::paxos::multi::NackReason::Stale });
    let now = c.now;
    let msg = crate::paxos::multi::Message { ballot: b, body: nack };
    c.px(1).handle_message(now, NodeId(3), crate::replica::Message::MultiPaxos(msg)).unwrap();
    c.poll();
    assert_eq!(read_result(&c, 1, 1), Some(Err(ReadError::LeadershipLost)));
    assert_eq!(c.role(1), Role::Candidate);
    assert!(c.ballot(1) > higher);
}

#[test]
fn lease_reads_need_no_round_while_the_lease_holds() {
    let lease = ReadMode::Lease { max_clock_drift: Duration::from_millis(10) };
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = lease);
    c.advance(Duration::from_millis(300));
    let l = c.leader().expect("a leader");
    c.propose(l, "w").unwrap();
    c.advance(Duration::from_millis(15));
    c.record = true;
    c.read(l, 1).unwrap();
    c.poll();
    assert!(read_result(&c, l, 1).is_some_and(|r| r.is_ok()), "answered without a round");
    // Cut off, the lease runs out and reads wait for a round that never completes.
    c.isolate(l);
    c.advance(Duration::from_millis(95));
    c.read(l, 2).unwrap();
    c.poll();
    assert_eq!(read_result(&c, l, 2), None);
}

#[test]
fn a_lease_ends_exactly_one_election_timeout_less_the_drift_after_its_round() {
    // Acceptors refuse other candidates for an election timeout from the
    // round's arrival, so the leader may answer from its lease only
    // strictly before start + election timeout - drift (PMMC leases).
    let drift = Duration::from_millis(10);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.advance(Duration::from_millis(300)); // quiet after start, then a leader; rounds confirmed
    let l = c.leader().expect("a leader");
    c.isolate(l); // no round confirms from here on
    let start = c.node(l).px.reads.lease_start().expect("a confirmed round");
    let lease = c.node(l).px.cfg.election_timeout - drift;
    c.now = start + (lease - Duration::from_millis(1));
    c.read(l, 1).unwrap();
    c.poll();
    assert!(read_result(&c, l, 1).is_some_and(|r| r.is_ok()), "inside the lease");
    c.now = start + lease;
    c.read(l, 2).unwrap();
    c.poll();
    assert_eq!(read_result(&c, l, 2), None, "at its end, a read needs a round");
}

#[test]
fn acceptors_honour_a_lease_for_an_election_timeout_even_after_a_restart() {
    let lease = ReadMode::Lease { max_clock_drift: Duration::from_millis(10) };
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = lease);
    c.advance(Duration::from_millis(300));
    let l = c.leader().expect("a leader");
    let others: alloc::vec::Vec<u64> = (1..=3).filter(|id| *id != l).collect();
    let (a, b) = (others[0], others[1]);
    c.isolate(l); // the leader may still serve lease reads for a while
    c.crash(a);
    c.restart(a); // forgets whose lease it honoured
    c.record = true;
    c.campaign(b);
    c.stabilize();
    assert_ne!(c.role(b), Role::Leader, "the restarted acceptor stays quiet for an election timeout");
    assert!(c.count_delivered(|m| matches!(m.body, Body::Nack(_))) > 0);
    c.advance(Duration::from_millis(400));
    assert!(c.leader().is_some_and(|n| n != l), "after the lease, a new leader");
}

#[test]
fn a_read_needs_a_majority_not_one_answer() {
    let mut c = Cluster::new(5);
    c.elect(1);
    c.read(1, 1).unwrap();
    c.poll();
    // The round reaches node 2 only.
    c.deliver_only(|_, to, m| to.0 == 2 && matches!(m.body, Body::Heartbeat(_)));
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, Body::HeartbeatResponse(_)));
    c.poll();
    assert_eq!(read_result(&c, 1, 1), None, "two of five is no quorum");
    c.queue.clear();
    c.stabilize();
    c.advance(Duration::from_millis(10));
    assert!(read_result(&c, 1, 1).is_some_and(|r| r.is_ok()));
}

#[test]
fn confirming_a_later_round_renews_the_lease_past_an_unanswered_one() {
    let lease = ReadMode::Lease { max_clock_drift: Duration::from_millis(10) };
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = lease);
    c.advance(Duration::from_millis(300)); // quiet after start, then a leader; rounds confirmed
    let l = c.leader().expect("a leader");
    // One round goes unanswered, the next is answered.
    c.now += Duration::from_millis(10);
    c.fire_timers();
    c.poll();
    c.queue.clear();
    c.now += Duration::from_millis(10);
    c.fire_timers();
    c.stabilize();
    // Far enough that only the later round's lease still holds.
    c.now += Duration::from_millis(75);
    c.read(l, 1).unwrap();
    c.poll();
    assert!(read_result(&c, l, 1).is_some_and(|r| r.is_ok()), "the later round's lease holds");
}

#[test]
fn a_bare_majority_confirms_read_after_read() {
    // The leader counts its own round toward the quorum: with node 3 down,
    // the leader and node 2 are a majority of three, round after round.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for rid in 1..=3 {
        c.read(1, rid).unwrap();
        c.stabilize();
        assert_eq!(read_result(&c, 1, rid), Some(Ok(c.node(1).px.status().commit)), "read {rid}");
    }
}
