//! One copy of the log: a replica with `retained_entries` keeps only a
//! tail in memory and reads older entries back from storage for a peer
//! that lags (`replica::read_back`).

use super::harness::*;
use crate::id::{LogIndex, Term};
use crate::raft::Body;
use crate::replica::read_back::testing::{ReadBackMode, read_from};
use crate::replica::{Entry, LogReadError, LogReadFailed, Replica};
use crate::time::Duration;
use alloc::format;
use alloc::vec::Vec;

/// Three nodes keeping at most `keep` applied entries; node 3 misses
/// `n` proposals while cut off.
fn lagging(keep: u64, n: usize) -> Cluster {
    let mut c = Cluster::with(3, |cfg| {
        cfg.retained_entries = Some(keep);
        cfg.max_append_entries = 8;
    });
    c.elect(1);
    c.isolate(3);
    for i in 0..n {
        c.propose(1, &format!("{i}")).unwrap();
    }
    c.stabilize();
    c
}

#[test]
fn memory_keeps_only_a_tail_once_every_peer_has_the_entries() {
    let mut c = Cluster::with(3, |cfg| cfg.retained_entries = Some(10));
    c.elect(1);
    for i in 0..100 {
        c.propose(1, &format!("{i}")).unwrap();
        c.stabilize();
    }
    c.advance(Duration::from_millis(20));
    for id in 1..=3 {
        let log = &c.node(id).raft.log;
        assert_eq!(log.applied, LogIndex(101));
        // Every peer holds everything: the leader keeps nothing applied,
        // and a Raft follower never does (should it lead, it reads back).
        assert_eq!(log.held_from(), LogIndex(102), "node {id}");
        assert_eq!(c.node(id).raft.entry(LogIndex(50)), None, "node {id} dropped it from memory");
        assert_eq!(log.term(LogIndex(50)), Some(c.term(1)), "its term is still known");
        assert_eq!(c.node(id).disk.entries.len(), 101, "storage keeps the log");
    }
}

#[test]
fn a_follower_behind_the_tail_catches_up_from_storage() {
    let mut c = lagging(4, 50);
    let held = c.node(1).raft.log.held_from();
    assert!(held > LogIndex(40), "the leader keeps at most 4 applied entries for node 3: held from {held:?}");
    c.heal();
    c.record = true;
    c.advance(Duration::from_millis(50));
    assert_eq!(c.applied_commands(3).len(), 50);
    assert!(c.read_backs.served >= 5, "51 entries in appends of 8 from storage: {} reads", c.read_backs.served);
    assert!(c.read_backs.errors.is_empty(), "{:?}", c.read_backs.errors);
    assert!(c.count_delivered(|m| matches!(&m.body, Body::Append(a) if a.entries.len() == 8)) >= 5);
    c.propose(1, "after").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3).len(), 51);
    c.assert_safe();
}

#[test]
fn a_failed_read_back_is_asked_again_after_a_heartbeat() {
    let mut c = lagging(0, 20);
    c.read_backs.mode = ReadBackMode::Fail;
    c.heal();
    c.advance(Duration::from_millis(30));
    assert!(c.applied_commands(3).is_empty(), "nothing can reach it");
    let failed = c.read_backs.errors.len();
    assert!(failed >= 2, "asked again after heartbeats: {failed}");
    assert!(failed <= 4, "but not in a loop: {failed} in 3 heartbeat intervals");
    assert!(c.read_backs.errors.iter().all(|e| *e == LogReadError::Failed));
    c.read_backs.mode = ReadBackMode::Serve;
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn an_unanswered_read_back_is_asked_again_after_an_election_timeout() {
    let mut c = lagging(0, 20);
    c.read_backs.mode = ReadBackMode::Hold;
    c.heal();
    c.advance(Duration::from_millis(50));
    assert_eq!(c.read_backs.held.len(), 1, "one read at a time per peer, while it is out");
    c.advance(Duration::from_millis(60));
    assert_eq!(c.read_backs.held.len(), 2, "asked again once the first was given up");
    // The late answer to the first no longer fits and is dropped.
    let (id, first) = c.read_backs.held[0];
    let entries = read_from(&c.node(id).disk, &first);
    let now = c.now;
    assert_eq!(c.raft(1).handle_log_read(now, first, Ok(entries)), Ok(()));
    c.read_backs.mode = ReadBackMode::Serve;
    let (_, second) = c.read_backs.held[1];
    let entries = read_from(&c.node(1).disk, &second);
    assert_eq!(c.raft(1).handle_log_read(now, second, Ok(entries)), Ok(()));
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn an_answer_that_is_not_what_was_asked_is_refused() {
    let mut c = lagging(0, 20);
    c.read_backs.mode = ReadBackMode::Hold;
    c.heal();
    c.advance(Duration::from_millis(15));
    let (_, read) = c.read_backs.held[0];
    let good = read_from(&c.node(1).disk, &read);
    assert!(good.len() >= 2);
    let now = c.now;
    let forged_term: Vec<Entry> = good.iter().map(|e| Entry { term: Term(e.term.0 + 1), ..e.clone() }).collect();
    assert_eq!(c.raft(1).handle_log_read(now, read, Ok(forged_term)), Err(LogReadError::WrongTerm(read.from.0)));
    // Refused answers send the peer back to probing; ask again.
    c.advance(Duration::from_millis(15));
    let (_, read) = *c.read_backs.held.last().unwrap();
    let mut gap = read_from(&c.node(1).disk, &read);
    gap.remove(1);
    assert_eq!(c.raft(1).handle_log_read(now, read, Ok(gap)), Err(LogReadError::OutOfPlace(read.from.0 + 2)));
    c.advance(Duration::from_millis(15));
    let (_, read) = *c.read_backs.held.last().unwrap();
    assert_eq!(c.raft(1).handle_log_read(now, read, Ok(Vec::new())), Err(LogReadError::Empty));
    c.advance(Duration::from_millis(15));
    let (_, read) = *c.read_backs.held.last().unwrap();
    assert_eq!(c.raft(1).handle_log_read(now, read, Err(LogReadFailed)), Err(LogReadError::Failed));
    assert!(c.applied_commands(3).is_empty(), "nothing refused reached the follower");
    c.read_backs.mode = ReadBackMode::Serve;
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 20);
    c.assert_safe();
}

#[test]
fn a_new_leader_reads_back_what_a_lagging_follower_lacks() {
    // Followers keep nothing applied; the new leader has only storage.
    let mut c = lagging(0, 30);
    assert!(c.node(2).raft.log.held_from() > LogIndex(30));
    c.crash(1);
    c.heal();
    // Past the time node 3 still heard from node 1 (no vote before that).
    c.advance(Duration::from_millis(150));
    c.elect(2);
    c.advance(Duration::from_millis(50));
    assert_eq!(c.leader(), Some(2));
    assert_eq!(c.applied_commands(3).len(), 30);
    assert!(c.read_backs.served > 0);
    c.assert_safe();
}

#[test]
fn an_answer_for_a_peer_that_moved_meanwhile_lets_the_next_read_go_at_once() {
    let mut c = lagging(0, 20);
    c.read_backs.mode = ReadBackMode::Hold;
    c.heal();
    c.advance(Duration::from_millis(15));
    let (_, read) = c.read_backs.held[0];
    // The follower's position moves while the read is out, as a rejection
    // moves it back.
    let pr = c.raft(1).peers.iter_mut().find(|p| p.id.0 == 3).unwrap();
    pr.next_index = read.from.prev();
    let entries = read_from(&c.node(1).disk, &read);
    let now = c.now;
    assert_eq!(c.raft(1).handle_log_read(now, read, Ok(entries)), Ok(()), "dropped, not refused");
    c.read_backs.mode = ReadBackMode::Serve;
    // Well within the election timeout (100 ms) the read is given up after.
    c.advance(Duration::from_millis(20));
    assert_eq!(c.applied_commands(3).len(), 20, "the next read went out at once");
    c.assert_safe();
}
