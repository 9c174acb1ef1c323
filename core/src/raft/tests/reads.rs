use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::raft::ReadMode;
use crate::replica::{ReadError, ReadId, ReadState, Replica, Role};
use crate::time::Duration;

fn read_result(c: &Cluster, id: u64, rid: u64) -> Option<Result<LogIndex, ReadError>> {
    c.node(id).reads.iter().find(|r| r.id == ReadId(rid)).map(|r| r.result)
}

#[test]
fn read_index_waits_for_a_quorum_round() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let p = c.propose(1, "w").unwrap();
    c.stabilize();
    c.read(1, 7).unwrap();
    c.poll();
    assert_eq!(read_result(&c, 1, 7), None, "not before the followers confirm");
    c.stabilize();
    assert_eq!(read_result(&c, 1, 7), Some(Ok(p.index)), "at least every acknowledged write");
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
    let heartbeats = c.count_delivered(|m| matches!(m.body, crate::raft::Body::Heartbeat(_)));
    assert_eq!(heartbeats, 2, "one round to each follower");
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
    assert_ne!(c.node(1).raft.role, Role::Leader);
    assert_eq!(read_result(&c, 1, 1), Some(Err(ReadError::LeadershipLost)));
}

#[test]
fn a_new_leader_serves_reads_only_after_its_term_commits() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(1);
    c.advance(Duration::from_millis(300));
    let leader = c.leader().unwrap();
    c.isolate(leader);
    c.elect(leader);
    // Alone, it cannot commit its no-op; thesis §6.4 says wait.
    if c.node(leader).raft.role == Role::Leader {
        c.read(leader, 5).unwrap();
        c.advance(Duration::from_millis(30));
        assert_eq!(read_result(&c, leader, 5), None);
    }
    c.heal();
    c.advance(Duration::from_millis(400));
    let leader = c.leader().unwrap();
    c.read(leader, 6).unwrap();
    c.stabilize();
    let idx = read_result(&c, leader, 6).unwrap().unwrap();
    assert!(c.node(leader).raft.log.term(idx) == Some(c.term(leader)));
}

#[test]
fn followers_refuse_reads_with_a_leader_hint() {
    let mut c = Cluster::new(3);
    c.elect(2);
    assert_eq!(c.read(1, 1), Err(ReadError::NotLeader { leader_hint: Some(NodeId(2)) }));
}

#[test]
fn too_many_pending_reads_is_busy() {
    let mut c = Cluster::with(3, |cfg| cfg.max_pending_reads = 2);
    c.elect(1);
    c.read(1, 1).unwrap();
    c.read(1, 2).unwrap();
    assert_eq!(c.read(1, 3), Err(ReadError::Busy));
}

#[test]
fn reads_attached_to_a_round_count_toward_the_limit_too() {
    let mut c = Cluster::with(3, |cfg| cfg.max_pending_reads = 2);
    c.elect(1);
    c.isolate(1); // rounds go out but are never confirmed
    c.read(1, 1).unwrap();
    c.poll(); // read 1 joins a round
    c.read(1, 2).unwrap(); // read 2 waits for the next one
    assert_eq!(c.read(1, 3), Err(ReadError::Busy));
}

#[test]
fn a_read_needs_a_majority_not_one_answer() {
    let mut c = Cluster::new(5);
    c.elect(1);
    c.read(1, 1).unwrap();
    c.poll();
    // The round reaches node 2 only.
    c.deliver_only(|_, to, m| to.0 == 2 && matches!(m.body, crate::raft::Body::Heartbeat(_)));
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, crate::raft::Body::HeartbeatResponse(_)));
    c.poll();
    assert_eq!(read_result(&c, 1, 1), None, "two of five is no quorum");
    c.queue.clear();
    c.stabilize();
    c.advance(Duration::from_millis(10));
    assert!(read_result(&c, 1, 1).is_some_and(|r| r.is_ok()));
}

#[test]
fn a_bare_majority_confirms_read_after_read() {
    // The leader counts its own round: with node 3 cut off, the leader and
    // node 2 are a majority of three, round after round.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for rid in 1..=3 {
        c.read(1, rid).unwrap();
        c.stabilize();
        assert_eq!(read_result(&c, 1, rid), Some(Ok(c.commit(1))), "read {rid}");
    }
}

#[test]
fn a_lease_serves_reads_without_a_round_until_it_lapses() {
    let drift = Duration::from_millis(20);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.elect(1);
    c.advance(Duration::from_millis(15)); // a heartbeat round confirms the lease
    c.read(1, 1).unwrap();
    let out = c.node(1).raft.outbox.reads.clone();
    assert_eq!(out, alloc::vec![ReadState { id: ReadId(1), result: Ok(LogIndex(1)) }], "served at once");
    c.poll();
    // Cut off, the leader keeps answering only while the lease holds.
    c.isolate(1);
    let cut_at = c.now;
    c.advance(Duration::from_millis(100) - drift);
    c.read(1, 2).unwrap();
    c.poll();
    assert_eq!(read_result(&c, 1, 2), None, "the lease ({:?}) has lapsed", c.now - cut_at);
}

#[test]
fn lease_reads_stop_during_a_leadership_transfer() {
    let drift = Duration::from_millis(20);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.elect(1);
    c.advance(Duration::from_millis(15));
    c.isolate(2);
    let now = c.now;
    crate::replica::Replica::transfer_leader(c.raft(1), now, NodeId(2)).unwrap();
    c.read(1, 9).unwrap();
    assert!(c.node(1).raft.outbox.reads.is_empty(), "the transfer target may win at once");
}

#[test]
fn lease_reads_stay_off_for_the_term_after_an_abandoned_transfer() {
    let drift = Duration::from_millis(20);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.elect(1);
    c.isolate(2);
    c.propose(1, "x").unwrap(); // node 2 lags: the transfer cannot finish
    c.stabilize();
    let now = c.now;
    crate::replica::Replica::transfer_leader(c.raft(1), now, NodeId(2)).unwrap();
    c.advance(Duration::from_millis(150)); // abandoned; node 3 confirmed rounds since
    assert_eq!(c.leader(), Some(1));
    // A vote request node 2 sent before the abandonment could still arrive
    // and win over node 3's lease: no lease for the rest of the term.
    c.read(1, 9).unwrap();
    assert!(c.node(1).raft.outbox.reads.is_empty(), "not served without a round");
    c.stabilize();
    assert!(read_result(&c, 1, 9).is_some_and(|r| r.is_ok()), "served after a round");
}

#[test]
fn a_single_node_confirms_reads_by_itself() {
    let mut c = Cluster::new(1);
    c.elect(1);
    c.read(1, 1).unwrap();
    c.stabilize();
    assert_eq!(read_result(&c, 1, 1), Some(Ok(LogIndex(1))));
}

/// Runs the cluster until nothing moves, dropping every message `drop` matches.
fn stabilize_dropping(c: &mut Cluster, drop: impl Fn(&crate::raft::Message) -> bool) {
    for _ in 0..1000 {
        let polled = c.poll();
        if c.queue.is_empty() && !polled {
            return;
        }
        c.deliver_only(|_, _, m| !drop(m));
    }
    panic!("cluster did not stabilize");
}

#[test]
fn a_leader_whose_no_op_is_not_committed_confirms_no_read_even_with_a_quorum_round() {
    // Thesis §6.4 step 1. Every acknowledgement of the new leader's no-op
    // is lost, while heartbeat rounds go through: a quorum confirms the
    // leader, but its commit index may still lag what the old leader
    // committed, so the read must wait.
    let mut c = Cluster::new(3);
    let is_ack = |m: &crate::raft::Message| matches!(m.body, crate::raft::Body::AppendResponse(_));
    let now = c.now;
    c.raft(1).election_deadline = now;
    c.raft(1).handle_timeout(now);
    stabilize_dropping(&mut c, is_ack);
    assert_eq!(c.node(1).raft.role, Role::Leader);
    assert!(c.commit(1) < c.last_index(1), "its no-op is not committed");
    c.read(1, 1).unwrap();
    for _ in 0..5 {
        c.now += Duration::from_millis(10);
        let now = c.now;
        if c.raft(1).poll_timeout().is_some_and(|t| t <= now) {
            c.raft(1).handle_timeout(now);
        }
        stabilize_dropping(&mut c, is_ack);
    }
    assert!(c.node(1).raft.peers.iter().all(|p| p.read_round > 0), "heartbeat rounds were answered");
    assert_eq!(read_result(&c, 1, 1), None);
    c.stabilize(); // the acknowledgements now arrive
    c.advance(Duration::from_millis(20));
    assert_eq!(read_result(&c, 1, 1), Some(Ok(c.commit(1))));
}

#[test]
fn a_lease_ends_exactly_one_election_timeout_less_the_drift_after_its_round() {
    let drift = Duration::from_millis(20);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    c.elect(1);
    c.advance(Duration::from_millis(15)); // a heartbeat round confirms the lease
    c.isolate(1); // and none does from here on
    let start = c.node(1).raft.reads.lease_start().expect("a confirmed round");
    let lease = c.node(1).cfg.election_timeout - drift;
    c.now = start + (lease - Duration::from_millis(1));
    c.read(1, 1).unwrap();
    c.poll();
    assert!(read_result(&c, 1, 1).is_some_and(|r| r.is_ok()), "inside the lease");
    c.now = start + lease;
    c.read(1, 2).unwrap();
    c.poll();
    assert_eq!(read_result(&c, 1, 2), None, "at its end, a read needs a round");
}

#[test]
fn a_lease_serves_no_read_before_the_leaders_term_commits() {
    // Thesis §6.4 step 1 holds under a lease too: a quorum confirming the
    // new leader's heartbeats says nothing about whether its commit index
    // covers what earlier leaders committed.
    let drift = Duration::from_millis(20);
    let mut c = Cluster::with(3, |cfg| cfg.read_mode = ReadMode::Lease { max_clock_drift: drift });
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.handle_timeout(now);
    // Votes and heartbeat answers flow; the leader's no-op never arrives.
    for _ in 0..30 {
        c.now += Duration::from_millis(1);
        let now = c.now;
        if c.raft(1).poll_timeout().is_some_and(|t| t <= now) {
            c.raft(1).handle_timeout(now);
        }
        c.poll();
        c.deliver_only(|from, _, m| !(from == NodeId(1) && is_append(m)));
    }
    assert_eq!(c.node(1).raft.role, Role::Leader);
    assert_eq!(c.commit(1), LogIndex(0), "its no-op is not committed");
    assert!(c.node(1).raft.reads.lease_start().is_some(), "a quorum confirmed a round: the lease holds");
    c.read(1, 1).unwrap();
    assert!(c.node(1).raft.outbox.reads.is_empty(), "served before its term committed");
    c.poll();
    assert_eq!(read_result(&c, 1, 1), None);
}
