use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::raft::Body;
use crate::replica::Replica as _;
use crate::replica::Role;

#[test]
fn vote_requests_and_grants_wait_for_the_vote_to_be_durable() {
    let mut c = Cluster::new(3);
    c.auto_sync = false;
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.cfg.pre_vote = false;
    r.handle_timeout(now);
    c.poll();
    assert!(c.queue.is_empty(), "RequestVote waits for the candidate's own vote to be written");
    c.sync(1);
    c.poll();
    assert_eq!(c.queue.len(), 2);
    while let Some((from, to, m)) = c.queue.pop_front() {
        c.deliver(from, to, m);
    }
    c.poll();
    assert!(c.queue.is_empty(), "grants wait for the voters' writes");
    assert_eq!(c.node(2).raft.vote, Some(NodeId(1)));
    c.sync(2);
    c.sync(3);
    c.poll();
    assert!(c.queue.iter().all(|(_, to, m)| to.0 == 1 && matches!(m.body, Body::VoteResponse(_))));
    c.auto_sync = true;
    c.stabilize();
    assert_eq!(c.leader(), Some(1));
}

#[test]
fn a_restarted_voter_does_not_vote_twice_in_one_term() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.isolate(3);
    let now = c.now;
    let r = c.raft(1);
    r.election_deadline = now;
    r.handle_timeout(now);
    // Deliver the vote exchange only, so node 2's log stays as short as
    // node 3's and only the recorded vote can stop a second grant.
    for _ in 0..2 {
        c.poll();
        while let Some((from, to, m)) = c.queue.pop_front() {
            c.deliver(from, to, m);
        }
    }
    assert_eq!(c.node(1).raft.role, Role::Leader);
    c.isolate(1);
    c.queue.clear();
    let term = c.term(1);
    assert_eq!(c.node(2).raft.vote, Some(NodeId(1)));
    c.crash(2);
    c.restart(2);
    assert_eq!(c.node(2).raft.vote, Some(NodeId(1)), "the vote was durable");
    c.cut.remove(&(3, 2));
    c.cut.remove(&(2, 3));
    let now = c.now;
    let r = c.raft(3);
    r.election_deadline = now;
    r.handle_timeout(now);
    assert_eq!(c.term(3), term, "node 3 campaigns in the same term");
    assert_eq!(c.last_index(2), c.last_index(3));
    c.stabilize();
    assert_ne!(c.node(3).raft.role, Role::Leader, "two leaders in one term");
}

#[test]
fn the_leader_replicates_before_its_own_write_but_counts_itself_only_once_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.auto_sync = false;
    c.isolate(3);
    let p = c.propose(1, "w").unwrap();
    c.poll();
    assert!(c.queue.iter().any(|(f, t, m)| f.0 == 1 && t.0 == 2 && is_append(m)), "sent before durable");
    assert!(!c.node(1).unsynced.is_empty());
    while let Some((from, to, m)) = c.queue.pop_front() {
        c.deliver(from, to, m);
    }
    c.poll();
    c.sync(2);
    c.poll();
    while let Some((from, to, m)) = c.queue.pop_front() {
        c.deliver(from, to, m);
    }
    c.poll();
    // Node 2 holds it durably, but the leader does not: 1 of 3 is no quorum.
    assert!(c.commit(1) < p.index);
    c.sync(1);
    assert_eq!(c.commit(1), p.index);
}

#[test]
fn an_ack_is_never_sent_for_an_unsynced_entry() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    while let Some((from, to, m)) = c.queue.pop_front() {
        c.deliver(from, to, m);
    }
    c.poll();
    assert!(
        !c.queue.iter().any(|(f, _, m)| f.0 != 1 && matches!(m.body, Body::AppendResponse(_))),
        "followers must not acknowledge before their write is durable"
    );
}

#[test]
fn crashes_that_lose_unsynced_writes_never_lose_committed_entries() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.auto_sync = false;
    let mut acknowledged = alloc::vec::Vec::new();
    for round in 0..6u64 {
        let leader = c.leader().unwrap();
        for i in 0..3 {
            let _ = c.propose(leader, &alloc::format!("r{round}-{i}"));
        }
        // Sync some nodes but not others, then crash a different node each
        // round, the leader included.
        for step in 0..4 {
            c.poll();
            while let Some((from, to, m)) = c.queue.pop_front() {
                c.deliver(from, to, m);
            }
            c.sync(1 + (round + step) % 3);
        }
        for id in 1..=3 {
            for e in c.node(id).applied.values() {
                if !acknowledged.contains(e) {
                    acknowledged.push(e.clone());
                }
            }
        }
        let victim = 1 + round % 3;
        c.crash(victim);
        c.auto_sync = true;
        c.advance(crate::time::Duration::from_millis(400));
        c.restart(victim);
        c.advance(crate::time::Duration::from_millis(400));
        c.auto_sync = false;
        c.assert_safe();
    }
    c.auto_sync = true;
    c.advance(crate::time::Duration::from_millis(400));
    let leader = c.leader().unwrap();
    let log = &c.node(leader).applied;
    for e in &acknowledged {
        assert_eq!(log.get(&e.index.0), Some(e), "committed entry lost at {:?}", e.index);
    }
    assert!(acknowledged.len() > 6);
    assert!(c.commit(leader) > LogIndex(10));
}

#[test]
fn a_follower_whose_write_is_stuck_still_answers_heartbeats_so_reads_go_on() {
    // A follower whose disk refuses its next write (full, retried later)
    // must not go silent: a heartbeat response depends on no write, so it
    // does not queue behind the stuck append's response.
    let mut c = Cluster::new(3);
    c.elect(1);
    let before = c.commit(1);
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    c.sync(1);
    c.deliver_only(|_, _, m| is_append(m));
    c.poll();
    assert!(!c.node(2).unsynced.is_empty() && !c.node(3).unsynced.is_empty(), "the followers' writes hang");
    c.read(1, 7).unwrap();
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, Body::Heartbeat(_)));
    c.poll();
    assert!(
        c.queue.iter().any(|(f, _, m)| f.0 != 1 && matches!(m.body, Body::HeartbeatResponse(_))),
        "a follower with a write in flight answered no heartbeat"
    );
    c.deliver_only(|_, _, m| matches!(m.body, Body::HeartbeatResponse(_)));
    c.poll();
    let read = c.node(1).reads.iter().find(|r| r.id == crate::replica::ReadId(7)).map(|r| r.result);
    assert_eq!(read, Some(Ok(before)), "the read was confirmed at the last commit");
}
