use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::paxos::multi::Body;
use crate::replica::{EntryKind, Replica};
use crate::time::Duration;
use alloc::vec::Vec;

#[test]
fn proposals_are_chosen_and_applied_everywhere() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let p = c.propose(1, "a").unwrap();
    assert_eq!(p.term, crate::paxos::ballot_term(c.ballot(1)));
    c.propose(1, "b").unwrap();
    c.stabilize();
    for id in 1..=3 {
        assert_eq!(c.applied_commands(id), alloc::vec![data("a"), data("b")], "node {id}");
        assert_eq!(c.commit(id), p.index.next());
    }
    assert!(c.propose(2, "x").is_err(), "only the leader proposes");
}

#[test]
fn a_batch_carries_many_slots_under_the_byte_limit() {
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_bytes = 200);
    c.elect(1);
    c.record = true;
    for i in 0..40 {
        c.propose(1, &alloc::format!("command-{i:02}")).unwrap();
    }
    c.stabilize();
    let accepts: Vec<usize> = c
        .delivered
        .iter()
        .filter_map(|(_, _, m)| match &m.body {
            Body::Accept(a) if !a.entries.is_empty() => Some(a.entries.len()),
            _ => None,
        })
        .collect();
    assert!(accepts.iter().all(|n| *n > 1), "several slots per message: {accepts:?}");
    for (_, _, m) in &c.delivered {
        if let Body::Accept(a) = &m.body {
            assert!(a.entries.iter().map(|e| e.size()).sum::<usize>() <= 200);
        }
    }
    assert_eq!(accepts.iter().sum::<usize>(), 80, "each slot sent once to each acceptor");
    assert_eq!(c.applied_commands(3).len(), 40);
}

#[test]
fn slots_accepted_out_of_order_are_stored_with_holes_then_filled() {
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_entries = 1);
    c.elect(1);
    c.propose(1, "z").unwrap();
    c.stabilize(); // acceptors stream now (past the first probe)
    c.isolate(3);
    for s in ["a", "b", "c"] {
        c.propose(1, s).unwrap();
    }
    c.poll();
    // Deliver slot 3's accept first, slot 1 and 2 later.
    let mut held = Vec::new();
    for (from, to, m) in core::mem::take(&mut c.queue) {
        match &m.body {
            Body::Accept(a) if to == NodeId(2) && a.entries[0].index < LogIndex(4) => held.push((from, to, m)),
            _ => c.deliver(from, to, m),
        }
    }
    c.poll();
    let disk = &c.node(2).disk;
    assert_eq!(disk.entries.len(), 4, "slot 4 stored after two holes");
    assert!(disk.entries[1..3].iter().all(|e| e.term.0 == 0 && e.kind == EntryKind::Noop));
    assert_eq!(c.commit(1), LogIndex(1), "nothing chosen before slots 2 and 3 are accepted");
    for (from, to, m) in held {
        c.deliver(from, to, m);
    }
    c.stabilize();
    assert!(c.node(2).rewrites > 0, "filling a stored hole rewrites the suffix");
    let disk = &c.node(2).disk;
    assert!(disk.entries.iter().all(|e| e.term.0 != 0), "every hole filled");
    let all = alloc::vec![data("z"), data("a"), data("b"), data("c")];
    assert_eq!(c.applied_commands(2), all);
    c.heal();
    c.advance(Duration::from_millis(50));
    assert_eq!(c.applied_commands(3), all);
}

#[test]
fn a_lagging_acceptor_catches_up_from_the_log() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for i in 0..30 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.stabilize();
    assert_eq!(c.commit(3), LogIndex(0));
    c.heal();
    c.advance(Duration::from_millis(40));
    assert_eq!(c.applied_commands(3).len(), 30);
    assert_eq!(c.node(3).px.status().commit, c.commit(1));
    c.assert_safe();
}

#[test]
fn lost_batches_are_resent_after_a_stalled_heartbeat() {
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_entries = 2);
    c.elect(1);
    c.propose(1, "first").unwrap();
    c.stabilize(); // node 3 streams now
    for i in 0..9 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.poll();
    // Lose every accept to node 3.
    c.deliver_only(|_, to, m| !(to == NodeId(3) && is_accept(m)));
    c.stabilize();
    assert_eq!(c.commit(3), LogIndex(1));
    // One heartbeat shows no progress yet is expected, the next one shows
    // a stall: node 3 is probed from what it holds and catches up.
    c.advance(Duration::from_millis(10));
    assert!(c.commit(3) < LogIndex(10));
    c.advance(Duration::from_millis(11));
    assert_eq!(c.applied_commands(3).len(), 10);
    let mut peers = Vec::new();
    c.px(1).peer_status(&mut peers);
    assert!(peers.iter().all(|p| p.match_index == LogIndex(10)));
}

#[test]
fn an_acceptor_answers_a_request_far_past_its_log_without_filling_the_gap() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let b = c.ballot(1);
    let far = LogIndex(1 << 40);
    let e = crate::replica::Entry::command(far, crate::paxos::ballot_term(b), data("far"));
    let msg = crate::paxos::multi::Message {
        ballot: b,
        body: Body::Accept(crate::paxos::multi::Accept { entries: alloc::vec![e], commit: LogIndex(0) }),
    };
    let now = c.now;
    c.px(2).handle_message(now, NodeId(1), crate::replica::Message::MultiPaxos(msg)).unwrap();
    assert_eq!(c.last_index(2), LogIndex(0), "no holes up to 2^40");
}

#[test]
fn proposal_errors_are_typed() {
    let mut c = Cluster::with(3, |cfg| {
        cfg.max_entry_bytes = 10;
        cfg.max_uncommitted_bytes = 12;
    });
    c.elect(1);
    assert_eq!(c.propose(2, "x"), Err(crate::replica::ProposeError::NotLeader { leader_hint: Some(NodeId(1)) }));
    assert_eq!(c.propose(1, "eleven-byte"), Err(crate::replica::ProposeError::ProposalTooLarge { size: 11, max: 10 }));
    c.propose(1, "ten-bytes!").unwrap(); // exactly the limit
    c.propose(1, "xx").unwrap(); // exactly the uncommitted budget
    assert_eq!(c.propose(1, "y"), Err(crate::replica::ProposeError::Busy));
    c.stabilize();
    c.propose(1, "y").unwrap();
    c.stabilize();
    // A single proposal over the budget still goes through when nothing is pending.
    let mut c = Cluster::with(3, |cfg| cfg.max_uncommitted_bytes = 4);
    c.elect(1);
    c.propose(1, "ten-bytes!").unwrap();
    assert_eq!(c.propose(1, "y"), Err(crate::replica::ProposeError::Busy));
}

#[test]
fn a_batch_exactly_at_the_byte_limit_is_sent_whole() {
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_bytes = 2 * (4 + 24));
    c.elect(1);
    c.propose(1, "z").unwrap();
    c.stabilize();
    c.record = true;
    for s in ["aaaa", "bbbb", "cccc"] {
        c.propose(1, s).unwrap();
    }
    c.stabilize();
    let sizes: Vec<usize> = c
        .delivered
        .iter()
        .filter(|(_, to, _)| to.0 == 2)
        .filter_map(|(_, _, m)| match &m.body {
            Body::Accept(a) if !a.entries.is_empty() => Some(a.entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, alloc::vec![2, 1]);
}

#[test]
fn acceptances_for_an_earlier_ballot_never_count_toward_a_later_one() {
    // An acceptance answers one ballot's accept requests. Answers carrying
    // the ballot of node 1's first, lost campaign reach it while it leads
    // in its second: counting
    // them would choose "x", which no acceptor has accepted in any ballot.
    let mut c = Cluster::new(3);
    c.campaign(1);
    c.poll();
    c.queue.clear(); // the first campaign is lost
    let earlier = c.ballot(1);
    c.elect(1);
    assert_eq!(c.leader(), Some(1));
    assert!(c.ballot(1) > earlier);
    let p = c.propose(1, "x").unwrap();
    c.poll();
    c.queue.clear(); // its accept requests are lost
    let now = c.now;
    for from in [2, 3] {
        let m = crate::paxos::multi::Message {
            ballot: earlier,
            body: Body::Accepted(crate::paxos::multi::Accepted { match_index: p.index }),
        };
        c.px(1).handle_message(now, NodeId(from), crate::replica::Message::MultiPaxos(m)).unwrap();
    }
    c.poll();
    assert!(c.node(1).px.status().commit < p.index, "chosen on the word of another ballot");
}

#[test]
fn a_streaming_acceptor_gets_every_batch_the_window_allows_in_one_poll() {
    // One slot per batch, so five proposals need five accepts; all of them
    // go out in the same poll (the window is 256 batches), not one per poll.
    let mut c = Cluster::with(3, |cfg| cfg.max_batch_entries = 1);
    c.elect(1);
    c.propose(1, "first").unwrap();
    c.stabilize(); // its answers move both acceptors to streaming
    for i in 0..5 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    let mut out = crate::replica::Output::default();
    c.px(1).poll_output(&mut out);
    let to_2 = out
        .messages
        .iter()
        .filter(|env| {
            env.to == NodeId(2)
                && matches!(&env.msg, crate::replica::Message::MultiPaxos(m) if matches!(&m.body, Body::Accept(a) if !a.entries.is_empty()))
        })
        .count();
    assert_eq!(to_2, 5);
}
