use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{AppendResponse, Body, Message};
use crate::replica::{self, Entry, HardState, Recovered, Replica, Role};
use alloc::vec::Vec;

#[test]
fn proposals_commit_everywhere_in_order() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let mut want = Vec::new();
    for i in 0..100 {
        let s = alloc::format!("cmd{i}");
        c.propose(1, &s).unwrap();
        want.push(data(&s));
    }
    c.stabilize();
    for id in 1..=3 {
        assert_eq!(c.applied_commands(id), want);
    }
}

#[test]
fn proposals_arriving_together_share_append_messages() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.record = true;
    for i in 0..1000 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    assert_eq!(c.applied_commands(3).len(), 1000);
    let appends = c.count_delivered(|m| matches!(&m.body, Body::Append(a) if !a.entries.is_empty()));
    assert!(appends <= 4, "1000 proposals took {appends} append messages");
}

#[test]
fn append_messages_respect_the_byte_budget() {
    let mut c = Cluster::with(3, |cfg| cfg.max_append_bytes = 4096);
    c.elect(1);
    c.record = true;
    let big = "x".repeat(1000);
    for _ in 0..40 {
        c.propose(1, &big).unwrap();
    }
    c.stabilize();
    assert_eq!(c.applied_commands(2).len(), 40);
    for (_, _, m) in &c.delivered {
        if let Body::Append(a) = &m.body {
            let bytes: usize = a.entries.iter().map(Entry::size).sum();
            assert!(a.entries.len() <= 1 || bytes <= 4096, "append of {bytes} bytes");
        }
    }
    assert!(c.count_delivered(is_append) >= 20);
}

#[test]
fn the_inflight_window_bounds_unacknowledged_appends() {
    let mut c = Cluster::with(3, |cfg| {
        cfg.max_inflight_msgs = 3;
        cfg.max_append_entries = 1;
    });
    c.elect(1);
    c.record = true;
    // Follower 2 hears the leader but its answers are lost.
    c.cut.insert((2, 1));
    for i in 0..20 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    let to_2 = c
        .delivered
        .iter()
        .filter(|(_, t, m)| t.0 == 2 && matches!(&m.body, Body::Append(a) if !a.entries.is_empty()))
        .count();
    assert_eq!(to_2, 3, "exactly the window, then the leader waits");
    c.heal();
    c.advance(crate::time::Duration::from_millis(100));
    assert_eq!(c.applied_commands(2).len(), 20);
}

/// Rebuilds a cluster whose nodes start from the given logs (entry terms
/// per index) and current term.
fn cluster_from_logs(logs: &[&[u64]], term: u64) -> Cluster {
    let mut c = Cluster::with(logs.len() as u64, |cfg| cfg.pre_vote = false);
    for (k, terms) in logs.iter().enumerate() {
        let id = k as u64 + 1;
        // Log Matching: equal (index, term) means equal content.
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| Entry::command(LogIndex(i as u64 + 1), Term(*t), data(&alloc::format!("{i}/{t}"))))
            .collect();
        let node = c.nodes.get_mut(&id).unwrap();
        node.disk =
            Recovered { hard_state: HardState { term: Term(term), ..Default::default() }, snapshot: None, entries };
        c.restart(id);
    }
    c
}

#[test]
fn figure7_followers_converge_to_the_leader_log() {
    // The leader and followers (a)–(f) of Raft Figure 7, as node 1..7.
    let leader: &[u64] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let logs: [&[u64]; 7] = [
        leader,
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    let mut c = cluster_from_logs(&logs, 7);
    c.record = true;
    c.elect(1);
    assert_eq!(c.leader(), Some(1), "a, b, e, f vote for the leader");
    assert_eq!(c.term(1), Term(8));
    let want: Vec<Option<Term>> = (1..=11).map(|i| c.node(1).raft.entry_term(LogIndex(i))).collect();
    for id in 2..=7 {
        let got: Vec<Option<Term>> = (1..=11).map(|i| c.node(id).raft.entry_term(LogIndex(i))).collect();
        assert_eq!(got, want, "follower {id}");
        assert_eq!(c.last_index(id), LogIndex(11), "extra entries of follower {id} removed");
    }
    // Fast back-off: few rejections even for follower (f), 7 entries off.
    let rejections = c.count_delivered(|m| matches!(m.body, Body::AppendResponse(AppendResponse::Rejected { .. })));
    assert!(rejections <= 8, "{rejections} rejections");
    c.assert_safe();
}

#[test]
fn fast_backoff_skips_a_whole_divergent_term_per_round_trip() {
    // Follower 2 holds 100 entries of an abandoned term 2.
    let mut long = alloc::vec![1u64];
    long.extend(core::iter::repeat_n(2, 100));
    let logs: [&[u64]; 3] = [&[1, 3], &long, &[1, 3]];
    let mut c = cluster_from_logs(&logs, 3);
    c.record = true;
    c.elect(1);
    c.stabilize();
    let rejections = c.count_delivered(|m| matches!(m.body, Body::AppendResponse(AppendResponse::Rejected { .. })));
    assert!(rejections <= 2, "{rejections} rejections for 100 divergent entries");
    assert_eq!(c.last_index(2), c.last_index(1));
    assert_eq!(c.node(2).raft.entry_term(LogIndex(2)), Some(Term(3)));
}

#[test]
fn figure8_entries_of_an_old_term_never_commit_by_counting() {
    // Raft Figure 8 (c): S1 leads term 4 holding index 2 from term 2, which
    // S2 and S3 also hold; S5 holds a term-3 entry at index 2.
    let logs: [&[u64]; 5] = [&[1, 2], &[1, 2], &[1, 2], &[1], &[1, 3]];
    let mut c = cluster_from_logs(&logs, 3);
    for id in 2..=5 {
        c.isolate(id);
    }
    // Elect S1 in term 4 by hand, with S2–S4 voting.
    c.heal();
    c.isolate(5);
    c.cut.insert((1, 2));
    c.cut.insert((1, 3));
    c.cut.insert((1, 4));
    let now = c.now;
    c.raft(1).election_deadline = now;
    c.raft(1).handle_timeout(now);
    c.poll();
    // Deliver only the vote exchange.
    let votes: Vec<_> = c.queue.drain(..).collect();
    for (from, to, m) in votes {
        c.cut.remove(&(from.0, to.0));
        c.deliver(from, to, m);
        c.cut.insert((from.0, to.0));
    }
    c.poll();
    let replies: Vec<_> = c.queue.drain(..).filter(|(_, to, _)| to.0 == 1).collect();
    for (from, to, m) in replies {
        c.deliver(from, to, m);
    }
    assert_eq!(c.node(1).raft.role, Role::Leader);
    assert_eq!(c.term(1), Term(4));
    c.queue.clear();
    // S2 and S3 report holding index 2: a majority holds the term-2 entry.
    let now = c.now;
    for from in [2, 3] {
        let ack = Message {
            term: Term(4),
            body: Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(2) }),
        };
        c.raft(1).handle_message(now, NodeId(from), replica::Message::Raft(ack)).unwrap();
    }
    assert!(c.commit(1) < LogIndex(2), "§5.4.2: a term-2 entry is not committed by counting replicas in term 4");
    // Figure 8 (d): that is what keeps S5 from overwriting a committed entry.
    c.crash(1);
    c.heal();
    // S5's first campaign (term 4) meets votes already cast; the second wins.
    for _ in 0..3 {
        if c.leader() == Some(5) {
            break;
        }
        c.elect(5);
    }
    assert_eq!(c.leader(), Some(5));
    c.stabilize();
    assert_eq!(c.node(2).raft.entry_term(LogIndex(2)), Some(Term(3)));
    c.assert_safe();
}

#[test]
fn figure8_an_entry_of_the_current_term_commits_earlier_ones() {
    // Figure 8 (e): once S1's term-4 entry is on a majority, index 2
    // commits, and S5 can no longer win.
    let logs: [&[u64]; 5] = [&[1, 2], &[1, 2], &[1, 2], &[1], &[1, 3]];
    let mut c = cluster_from_logs(&logs, 3);
    c.isolate(4);
    c.isolate(5);
    c.elect(1);
    c.stabilize();
    assert_eq!(c.commit(1), LogIndex(3));
    assert_eq!(c.node(2).applied.get(&2).map(|e| e.term), Some(Term(2)));
    c.crash(1);
    c.heal();
    c.elect(5);
    assert_ne!(c.node(5).raft.role, Role::Leader, "S5's log lacks a committed entry");
}

#[test]
fn a_lagging_follower_catches_up_after_a_partition() {
    let mut c = Cluster::new(5);
    c.elect(1);
    c.isolate(5);
    for i in 0..300 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
        if i % 50 == 0 {
            c.stabilize();
        }
    }
    c.stabilize();
    assert!(c.applied_commands(5).is_empty());
    c.heal();
    c.advance(crate::time::Duration::from_millis(50));
    assert_eq!(c.applied_commands(5), c.applied_commands(1));
    assert_eq!(c.applied_commands(5).len(), 300);
}
