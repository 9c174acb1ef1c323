//! Persist before reply, and what a restart recovers.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId, Term};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Body, Config, ConfigError, MultiPaxos, NewError};
use crate::replica::{Entry, EntryKind, HardState, Membership, RecoverError, Recovered, Replica, Role};
use crate::time::{Duration, Instant};
use alloc::vec;

#[test]
fn prepares_promises_and_acceptances_wait_for_durability() {
    let mut c = Cluster::new(3);
    c.auto_sync = false;
    c.campaign(1);
    c.poll();
    assert!(c.queue.is_empty(), "prepares wait for the candidate's own promise");
    c.sync(1);
    c.poll();
    assert_eq!(c.queue.len(), 2);
    while let Some((f, t, m)) = c.queue.pop_front() {
        c.deliver(f, t, m);
    }
    c.poll();
    assert!(c.queue.is_empty(), "promises wait for the acceptors' writes");
    c.sync(2);
    c.poll();
    assert!(matches!(c.queue[0].2.body, Body::Promise(_)));
    c.auto_sync = true;
    c.stabilize();
    assert_eq!(c.role(1), Role::Leader);
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    assert!(c.queue.iter().any(|(_, _, m)| is_accept(m)), "the leader sends before its own write is durable");
    c.deliver_only(|_, _, m| is_accept(m));
    c.poll();
    assert!(!c.queue.iter().any(|(_, _, m)| matches!(m.body, Body::Accepted(_))), "acks wait for the write");
    c.sync(2);
    c.poll();
    c.deliver_only(|_, _, _| true);
    assert_eq!(c.commit(1), LogIndex(0), "the leader counts itself only once durable");
    c.sync(1);
    c.poll();
    assert_eq!(c.commit(1), LogIndex(1));
}

#[test]
fn a_restart_recovers_the_promise_and_every_accepted_slot() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for s in ["a", "b", "c"] {
        c.propose(1, s).unwrap();
    }
    c.stabilize();
    let b = c.ballot(2);
    c.crash(2);
    c.restart(2);
    let px = &c.node(2).px;
    assert_eq!(px.promised(), b);
    assert!(px.status().commit <= LogIndex(3), "the stored commit hint may lag, never lead");
    assert_eq!(px.entry(LogIndex(2)).map(|e| e.data), Some(data("b")));
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(2), vec![data("a"), data("b"), data("c")]);
}

#[test]
fn unsynced_writes_are_lost_in_a_crash_and_were_never_acknowledged() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    c.deliver_only(|_, _, m| is_accept(m));
    c.poll();
    assert!(c.queue.is_empty());
    c.crash(2);
    c.crash(3);
    c.restart(2);
    c.restart(3);
    assert_eq!(c.last_index(2), LogIndex(0));
    c.auto_sync = true;
    c.sync(1);
    c.advance(Duration::from_millis(100));
    assert_eq!(c.applied_commands(2), vec![data("w")], "re-sent by the leader, which still leads");
    c.assert_safe();
}

#[test]
fn recovery_checks_what_storage_hands_back() {
    let voters = Membership::voters_only([NodeId(1), NodeId(2)]).unwrap();
    let gap = Recovered {
        entries: vec![Entry::noop(LogIndex(1), Term(1)), Entry::noop(LogIndex(3), Term(1))],
        ..Recovered::default()
    };
    let r = MultiPaxos::new(test_config(1), Instant::ZERO, gap, voters.clone());
    assert_eq!(r.err(), Some(NewError::Recover(RecoverError::Gap { expected: LogIndex(2), found: LogIndex(3) })));
    // No configuration at all: a node waiting to be added, which only listens.
    let joiner = MultiPaxos::new(test_config(1), Instant::ZERO, Recovered::default(), Membership::default()).unwrap();
    assert_eq!((joiner.status().role, joiner.poll_timeout()), (crate::replica::Role::Learner, None));
    let big = Membership::voters_only([NodeId(1), NodeId(70_000)]).unwrap();
    let r = MultiPaxos::new(test_config(1), Instant::ZERO, Recovered::default(), big);
    assert_eq!(r.err(), Some(NewError::Config(ConfigError::NodeIdTooLarge(NodeId(70_000)))));
    let r = MultiPaxos::new(Config::new(NodeId(1 << 16), 1), Instant::ZERO, Recovered::default(), voters.clone());
    assert_eq!(r.err(), Some(NewError::Config(ConfigError::NodeIdTooLarge(NodeId(1 << 16)))));
    // An acceptance stored with its promise still in flight: the promise
    // is at least the accepted ballot.
    let b = Ballot::new(4, NodeId(2));
    let torn = Recovered {
        hard_state: HardState { term: ballot_term(Ballot::new(1, NodeId(1))), vote: None, commit: LogIndex(0) },
        entries: vec![Entry::command(LogIndex(1), ballot_term(b), data("v"))],
        ..Recovered::default()
    };
    let px = MultiPaxos::new(test_config(1), Instant::ZERO, torn, voters.clone()).unwrap();
    assert_eq!(px.promised(), b);
    // Entries a snapshot covers are ignored, as storage would drop them.
    let snap = crate::replica::Snapshot {
        meta: crate::replica::SnapshotMeta { index: LogIndex(2), term: Term(1), membership: voters.clone() },
        data: bytes::Bytes::new(),
    };
    let covered = Recovered {
        snapshot: Some(snap),
        entries: vec![Entry::noop(LogIndex(2), Term(1)), Entry::noop(LogIndex(3), Term(1))],
        ..Recovered::default()
    };
    let px = MultiPaxos::new(test_config(1), Instant::ZERO, covered, Membership::default()).unwrap();
    assert_eq!((px.status().snapshot_index, px.status().last_index), (LogIndex(2), LogIndex(3)));
    assert_eq!(px.membership(), &voters, "the snapshot's membership is the one in force");
    let conf = Recovered {
        entries: vec![Entry { index: LogIndex(1), term: Term(1), kind: EntryKind::Membership, data: data("x") }],
        ..Recovered::default()
    };
    let r = MultiPaxos::new(test_config(1), Instant::ZERO, conf, voters.clone());
    assert_eq!(r.err(), Some(NewError::Recover(RecoverError::BadMembership(LogIndex(1)))));
    let change =
        crate::replica::MembershipChange { voters: vec![NodeId(1), NodeId(3)], learners: vec![], addresses: vec![] };
    let joint = voters.enter_joint(&change).unwrap();
    let r = MultiPaxos::new(test_config(1), Instant::ZERO, Recovered::default(), joint);
    assert_eq!(r.err(), Some(NewError::Config(ConfigError::JointMembership)));
}

#[test]
fn a_report_for_a_write_not_yet_handed_out_releases_nothing() {
    let mut c = Cluster::new(3);
    c.auto_sync = false;
    c.campaign(1);
    let now = c.now;
    c.px(1).handle_persisted(now, crate::replica::PersistId(99));
    c.poll();
    assert!(c.queue.is_empty(), "the promise is handed out only now, and not yet durable");
    c.sync(1);
    c.poll();
    assert_eq!(c.queue.len(), 2);
}

#[test]
fn followers_learn_the_commit_index_before_the_leaders_own_write_is_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "first").unwrap();
    c.stabilize(); // acceptors stream now
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    c.deliver_only(|_, _, m| is_accept(m));
    c.poll();
    c.sync(2);
    c.sync(3);
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, Body::Accepted(_)));
    assert_eq!(c.commit(1), LogIndex(2), "chosen by nodes 2 and 3");
    assert!(c.node(1).px.status().persisted < LogIndex(2));
    c.poll(); // checks has_output: only the commit notices are due
    c.deliver_only(|_, _, m| matches!(&m.body, Body::Accept(a) if a.entries.is_empty()));
    assert_eq!(c.commit(2), LogIndex(2));
    c.poll();
    assert_eq!(c.applied_commands(2), vec![data("first"), data("w")]);
    assert_eq!(c.applied_commands(1), vec![data("first")], "applied only once durable here");
}

#[test]
fn an_acceptor_whose_write_is_stuck_still_answers_heartbeats_so_reads_go_on() {
    // An acceptor whose disk refuses its next write (full, retried later)
    // must not go silent: its heartbeat answer depends on no write.
    let mut c = Cluster::new(3);
    c.elect(1);
    let before = c.commit(1);
    c.auto_sync = false;
    c.propose(1, "w").unwrap();
    c.poll();
    c.sync(1);
    c.deliver_only(|_, _, m| is_accept(m));
    c.poll();
    assert!(!c.node(2).unsynced.is_empty() && !c.node(3).unsynced.is_empty(), "the acceptors' writes hang");
    c.read(1, 7).unwrap();
    for _ in 0..3 {
        c.poll();
        c.deliver_only(|_, _, m| matches!(m.body, Body::Heartbeat(_) | Body::HeartbeatResponse(_)));
    }
    c.poll();
    let read = c.node(1).reads.iter().find(|r| r.id == crate::replica::ReadId(7)).map(|r| r.result);
    assert_eq!(read, Some(Ok(before)), "the read was confirmed at the last commit");
}
