//! Leader changes: what a new leader recovers from a quorum of promises.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Accept, Body, Message};
use crate::replica::{self, Entry, EntryKind, Replica, Role};
use crate::time::Duration;
use alloc::vec;

#[test]
fn a_new_leader_keeps_chosen_values_and_fills_holes_with_noops() {
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_entries = 1);
    c.elect(1);
    c.propose(1, "z").unwrap();
    c.stabilize(); // slot 1 everywhere; acceptors stream now
    for s in ["a", "b", "c", "d"] {
        c.propose(1, s).unwrap();
    }
    c.poll();
    // Slot 2 reaches node 3 only (chosen: leader + node 3), slots 3 and 5
    // reach node 2 only, slot 4 reaches nobody.
    c.deliver_only(|_, to, m| match &m.body {
        Body::Accept(a) if !a.entries.is_empty() => {
            let i = a.entries[0].index.0;
            (i == 2 && to == NodeId(3)) || ((i == 3 || i == 5) && to == NodeId(2))
        }
        _ => true,
    });
    c.poll();
    c.deliver_only(|_, _, m| !matches!(m.body, Body::Accept(_)));
    assert_eq!(c.commit(1), LogIndex(2), "slot 2 was chosen before the crash");
    c.crash(1);
    c.advance(Duration::from_millis(300)); // the leases lapse; 2 or 3 takes over
    let l = c.leader().expect("a new leader");
    let applied: alloc::vec::Vec<(EntryKind, bytes::Bytes)> = c.node(l).applied.values().map(value).collect();
    assert_eq!(
        applied,
        vec![
            (EntryKind::Command, data("z")),
            (EntryKind::Command, data("a")),
            (EntryKind::Command, data("b")),
            (EntryKind::Noop, bytes::Bytes::new()), // nobody accepted slot 4: a hole, filled
            (EntryKind::Command, data("d")),
        ]
    );
    // Every recovered slot is re-proposed under the new ballot.
    let b = ballot_term(c.ballot(l));
    assert!((2..=5).all(|i| c.node(l).px.entry_term(LogIndex(i)) == Some(b)));
    c.restart(1);
    c.advance(Duration::from_millis(50));
    for id in 1..=3 {
        assert_eq!(c.applied_commands(id), c.applied_commands(l));
    }
    c.assert_safe();
}

#[test]
fn recovery_takes_the_value_of_the_highest_ballot() {
    // Whichever promise arrives first.
    for highest_first in [false, true] {
        highest_ballot_wins(highest_first);
    }
}

fn highest_ballot_wins(highest_first: bool) {
    let mut c = Cluster::new(5);
    let now = c.now;
    // Node 2 accepted "old" in ballot 1.4, node 3 accepted "new" in 2.5 at
    // the same slot: leaders 4 and 5 each reached one acceptor.
    for (id, round, leader, v) in [(2, 1, 4, "old"), (3, 2, 5, "new")] {
        let ballot = Ballot::new(round, NodeId(leader));
        let e = Entry::command(LogIndex(1), ballot_term(ballot), data(v));
        let msg = Message { ballot, body: Body::Accept(Accept { entries: vec![e], commit: LogIndex(0) }) };
        c.px(id).handle_message(now, NodeId(leader), replica::Message::MultiPaxos(msg)).unwrap();
        c.px(id).last_leader_contact = None; // those leaders are long gone
    }
    c.queue.clear();
    c.isolate(4);
    c.isolate(5);
    c.elect(1);
    assert_eq!(c.leader(), None, "ballot 1.1 is below both promises: refused");
    assert_eq!(c.node(1).px.highest_seen, Ballot::new(2, NodeId(5)), "the nacks said how high to go");
    c.campaign(1);
    c.poll();
    c.deliver_only(|_, _, _| true);
    c.poll();
    let first = if highest_first { 3 } else { 2 };
    let mut promises = core::mem::take(&mut c.queue);
    promises.make_contiguous().sort_by_key(|(from, _, _)| from.0 != first);
    for (from, to, m) in promises {
        c.deliver(from, to, m);
    }
    assert_eq!(c.leader(), Some(1), "promised by 2 and 3");
    assert_eq!(c.ballot(1), Ballot::new(3, NodeId(1)));
    c.stabilize();
    c.advance(Duration::from_millis(20));
    assert_eq!(c.applied_commands(1), vec![data("new")], "PMS P2c: the highest-numbered proposal wins");
    assert_eq!(c.applied_commands(2), vec![data("new")], "and overwrites the lower one");
    c.assert_safe();
}

#[test]
fn an_acceptor_crash_between_promise_and_accept_keeps_its_promise() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.stabilize();
    let old = c.ballot(1);
    // Node 1 is cut off; node 3 runs phase 1 and node 2 promises.
    c.isolate(1);
    c.advance(Duration::from_millis(150)); // leases lapse
    c.campaign(3);
    c.poll();
    c.deliver_only(|_, _, m| matches!(m.body, Body::Prepare(_)));
    c.poll();
    let promised = c.ballot(2);
    assert!(promised > old && promised.node == NodeId(3));
    assert!(c.node(2).disk.hard_state.term == ballot_term(promised), "the promise is durable before it is sent");
    let promise = c.queue.iter().find(|(f, _, m)| f.0 == 2 && matches!(m.body, Body::Promise(_))).cloned();
    // Node 2 crashes after promising, before any accept arrives.
    c.crash(2);
    c.restart(2);
    assert_eq!(c.ballot(2), promised, "the promise survived the crash");
    // The old leader's accept, in its lower ballot, is refused.
    let e = Entry::command(LogIndex(2), ballot_term(old), data("late"));
    let msg = Message { ballot: old, body: Body::Accept(Accept { entries: vec![e], commit: LogIndex(1) }) };
    let now = c.now;
    c.px(2).handle_message(now, NodeId(1), replica::Message::MultiPaxos(msg)).unwrap();
    assert_eq!(c.last_index(2), LogIndex(1), "nothing accepted below the promise");
    // The candidate completes with the promise sent before the crash.
    let (from, to, m) = promise.expect("node 2 promised");
    c.queue.clear();
    c.deliver(from, to, m);
    c.stabilize();
    assert_eq!(c.role(3), Role::Leader);
    c.propose(3, "y").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(2), vec![data("x"), data("y")]);
    c.heal();
    c.advance(Duration::from_millis(50));
    assert_eq!(c.applied_commands(1), vec![data("x"), data("y")]);
    c.assert_safe();
}

#[test]
fn a_minority_partitioned_leader_cannot_commit_and_steps_down() {
    let mut c = Cluster::new(5);
    c.elect(1);
    c.propose(1, "before").unwrap();
    c.stabilize();
    // {1, 2} | {3, 4, 5}
    for a in [1, 2] {
        for b in [3, 4, 5] {
            c.cut.insert((a, b));
            c.cut.insert((b, a));
        }
    }
    let lost = c.propose(1, "lost").unwrap();
    c.advance(Duration::from_millis(60));
    assert_eq!(c.commit(1), LogIndex(1), "two of five cannot choose");
    c.advance(Duration::from_millis(400));
    assert_ne!(c.role(1), Role::Leader, "the quorum check made it step down");
    let l = c.leader().expect("the majority side elected a leader");
    assert!([3, 4, 5].contains(&l));
    let kept = c.propose(l, "kept").unwrap();
    c.stabilize();
    assert_eq!(kept.index, lost.index, "the new leader reuses the slot nobody accepted");
    c.heal();
    c.advance(Duration::from_millis(200));
    for id in 1..=5 {
        assert_eq!(c.applied_commands(id), vec![data("before"), data("kept")], "node {id}");
    }
    c.assert_safe();
}

#[test]
fn a_leader_with_an_unfinished_recovery_keeps_proposing_after_it() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..5 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.poll();
    c.deliver_only(|_, to, m| !(to == NodeId(3) && is_accept(m)));
    c.crash(1);
    c.stabilize();
    c.advance(Duration::from_millis(300)); // the leases lapse; 2 or 3 takes over
    let l = c.leader().expect("a new leader");
    let p = c.propose(l, "next").unwrap();
    assert_eq!(p.index, LogIndex(6), "recovered slots come first");
    c.stabilize();
    c.advance(Duration::from_millis(30));
    assert_eq!(c.applied_commands(3).len(), 6);
    c.assert_safe();
}
