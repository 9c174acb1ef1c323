//! The follower's AppendEntries rules one at a time (Raft §5.3, Figure 2),
//! each driven by a hand-built message into a follower recovered from a
//! chosen disk, and the leader's handling of acknowledgements.

use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::progress::State;
use crate::raft::{Append, AppendResponse, Body, Message, Raft};
use crate::replica::{
    self, Entry, HardState, Membership, Output, ProposeError, Recovered, Replica, Snapshot, SnapshotMeta,
};
use crate::time::Instant;
use alloc::vec::Vec;

fn voters() -> Membership {
    Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap()
}

fn entries(from: u64, to: u64, term: u64) -> Vec<Entry> {
    (from..=to).map(|i| Entry::command(LogIndex(i), Term(term), data(&alloc::format!("{i}/{term}")))).collect()
}

/// Follower 2, recovered with a snapshot through `snap` (if nonzero),
/// `log` after it, and `commit` as its commit index, in term `term`.
fn follower(snap: u64, log: Vec<Entry>, commit: u64, term: u64) -> Raft {
    let snapshot = (snap > 0).then(|| Snapshot {
        meta: SnapshotMeta { index: LogIndex(snap), term: Term(1), membership: voters() },
        data: data("state"),
    });
    let disk = Recovered {
        hard_state: HardState { term: Term(term), vote: None, commit: LogIndex(commit) },
        snapshot,
        entries: log,
    };
    Raft::new(test_config(2), Instant::from_millis(1), disk, voters()).unwrap()
}

/// Delivers `a` from leader 1 in `term`, makes every write durable, and
/// returns the follower's answers and whether any write truncated its log.
fn append(r: &mut Raft, term: u64, a: Append) -> (Vec<AppendResponse>, bool) {
    let now = Instant::from_millis(2);
    let msg = Message { term: Term(term), body: Body::Append(a) };
    r.handle_message(now, NodeId(1), replica::Message::Raft(msg)).unwrap();
    let mut answers = Vec::new();
    let mut truncated = false;
    for _ in 0..4 {
        let mut out = Output::default();
        r.poll_output(&mut out);
        if let Some(p) = out.persist.take() {
            truncated |= p.truncate_from.is_some();
            r.handle_persisted(now, p.id);
        }
        for env in out.messages {
            let replica::Message::Raft(m) = env.msg else { panic!("raft sent another protocol") };
            if let Body::AppendResponse(resp) = m.body {
                answers.push(resp);
            }
        }
    }
    (answers, truncated)
}

fn accepted(match_index: u64) -> Vec<AppendResponse> {
    alloc::vec![AppendResponse::Accepted { match_index: LogIndex(match_index) }]
}

#[test]
fn an_append_reaching_back_into_the_snapshot_is_taken_from_the_snapshot_on() {
    // The follower's log up to 5 is compacted; the leader, not yet knowing,
    // resends from 4. What the snapshot covers is committed and so matches
    // (Raft §5.4, Leader Completeness): keep 6..=8, acknowledge 8.
    let mut r = follower(5, Vec::new(), 5, 1);
    let a = Append { prev_index: LogIndex(3), prev_term: Term(1), entries: entries(4, 8, 1), commit: LogIndex(8) };
    let (answers, _) = append(&mut r, 1, a);
    assert_eq!(answers, accepted(8));
    assert_eq!(r.log.last_index(), LogIndex(8));
    assert_eq!(r.log.commit, LogIndex(8));
}

#[test]
fn an_append_wholly_inside_the_snapshot_is_acknowledged_as_old_news() {
    let mut r = follower(5, Vec::new(), 5, 1);
    let a = Append { prev_index: LogIndex(1), prev_term: Term(1), entries: entries(2, 3, 1), commit: LogIndex(3) };
    let (answers, truncated) = append(&mut r, 1, a);
    // True and harmless: the follower matches through 3 (and more).
    assert_eq!(answers, accepted(3));
    assert!(!truncated);
    assert_eq!(r.log.last_index(), LogIndex(5));
    assert_eq!(r.log.commit, LogIndex(5));
}

#[test]
fn an_append_whose_previous_entry_contradicts_a_committed_one_is_rejected() {
    // Index 3 is committed here in term 1; a sender claiming term 4 there
    // is not the log this follower committed from, so §5.3's consistency
    // check must run, not be skipped as "already committed".
    let mut r = follower(0, entries(1, 3, 1), 3, 4);
    let a = Append { prev_index: LogIndex(3), prev_term: Term(4), entries: entries(4, 4, 5), commit: LogIndex(4) };
    let (answers, _) = append(&mut r, 5, a);
    assert!(matches!(answers.as_slice(), [AppendResponse::Rejected { rejected: LogIndex(3), .. }]), "{answers:?}");
    assert_eq!(r.log.last_index(), LogIndex(3));
    assert_eq!(r.entry_term(LogIndex(3)), Some(Term(1)));
}

#[test]
fn a_late_duplicate_append_never_truncates_the_entries_it_matches() {
    // Figure 2, AppendEntries rule 3 deletes only on a conflict. A delayed
    // copy of an earlier, shorter append must leave 4 and 5 alone: they
    // may already have been acknowledged and counted toward a commit.
    let mut r = follower(0, Vec::new(), 0, 1);
    let long = Append { prev_index: LogIndex(0), prev_term: Term(0), entries: entries(1, 5, 1), commit: LogIndex(0) };
    assert_eq!(append(&mut r, 1, long).0, accepted(5));
    let short = Append { prev_index: LogIndex(0), prev_term: Term(0), entries: entries(1, 3, 1), commit: LogIndex(0) };
    let (answers, truncated) = append(&mut r, 1, short);
    assert_eq!(answers, accepted(3));
    assert!(!truncated, "a matching duplicate caused a truncation");
    assert_eq!(r.log.last_index(), LogIndex(5));
}

#[test]
fn a_conflicting_uncommitted_suffix_is_replaced() {
    // The other half of rule 3: 4 and 5 from a deposed term 1 leader are
    // replaced by the term-2 leader's entry at 4.
    let mut r = follower(0, entries(1, 5, 1), 3, 1);
    let a = Append { prev_index: LogIndex(3), prev_term: Term(1), entries: entries(4, 4, 2), commit: LogIndex(3) };
    let (answers, truncated) = append(&mut r, 2, a);
    assert_eq!(answers, accepted(4));
    assert!(truncated);
    assert_eq!(r.log.last_index(), LogIndex(4));
    assert_eq!(r.entry_term(LogIndex(4)), Some(Term(2)));
}

#[test]
fn the_uncommitted_byte_budget_admits_exactly_its_limit() {
    let mut c = Cluster::with(3, |cfg| cfg.max_uncommitted_bytes = 10);
    c.elect(1);
    c.isolate(1); // nothing commits from here on
    c.propose(1, "abcd").unwrap();
    c.propose(1, "efghij").unwrap();
    assert_eq!(c.propose(1, "k"), Err(ProposeError::Busy));
}

#[test]
fn with_nothing_uncommitted_one_proposal_may_exceed_the_byte_budget() {
    // Otherwise an entry larger than the budget (but within the entry
    // limit) could never be proposed at all.
    let mut c = Cluster::with(3, |cfg| cfg.max_uncommitted_bytes = 10);
    c.elect(1);
    c.isolate(1);
    c.propose(1, "twelve bytes").unwrap();
    assert_eq!(c.propose(1, "k"), Err(ProposeError::Busy));
}

#[test]
fn a_replicating_follower_gets_every_append_the_window_allows_in_one_poll() {
    // One entry per append, so five proposals need five messages; all of
    // them go out in the same poll (the window is 256), not one per poll.
    let mut c = Cluster::with(3, |cfg| cfg.max_append_entries = 1);
    c.elect(1);
    for i in 0..5 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    let mut out = Output::default();
    c.raft(1).poll_output(&mut out);
    let to_2 = out
        .messages
        .iter()
        .filter(|env| {
            env.to == NodeId(2)
                && matches!(&env.msg, replica::Message::Raft(m) if matches!(&m.body, Body::Append(a) if !a.entries.is_empty()))
        })
        .count();
    assert_eq!(to_2, 5);
}

#[test]
fn an_acknowledgement_past_the_snapshot_being_sent_ends_the_transfer() {
    // The leader moved follower 2 to snapshot mode at 5 while an earlier
    // append was still in flight; that append's answer shows 2 already
    // holds 7, so the transfer is moot and replication resumes after 7.
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..8 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    let now = c.now;
    let leader = c.raft(1);
    let p = leader.peers.iter().position(|p| p.id == NodeId(2)).unwrap();
    let set_snapshot_mode = |leader: &mut Raft| {
        let pr = &mut leader.peers[p];
        pr.match_index = LogIndex(2);
        pr.become_snapshot(LogIndex(5));
    };
    let ack = |leader: &mut Raft, m: u64| {
        let msg = Message {
            term: leader.term,
            body: Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(m) }),
        };
        leader.handle_message(now, NodeId(2), replica::Message::Raft(msg)).unwrap();
    };
    // An answer that still falls short of the snapshot changes nothing.
    set_snapshot_mode(leader);
    ack(leader, 3);
    assert!(matches!(leader.peers[p].state, State::Snapshot { .. }), "{:?}", leader.peers[p].state);
    ack(leader, 7);
    assert_eq!(leader.peers[p].state, State::Probe);
    assert_eq!(leader.peers[p].next_index, LogIndex(8));
}

#[test]
fn a_follower_sent_entries_gets_no_separate_commit_notice() {
    // A new commit index rides on the append that goes out anyway; an
    // empty append beside it would double a busy leader's messages.
    let mut c = Cluster::new(3);
    c.elect(1);
    let a = c.propose(1, "a").unwrap();
    for _ in 0..2 {
        // The appends out, then the answers back: the commit moves.
        c.poll();
        while let Some((from, to, m)) = c.queue.pop_front() {
            c.deliver(from, to, m);
        }
    }
    assert_eq!(c.commit(1), a.index, "the leader learned of the commit since its last poll");
    c.propose(1, "b").unwrap();
    let mut out = Output::default();
    c.raft(1).poll_output(&mut out);
    let appends_to_2: Vec<_> = out
        .messages
        .iter()
        .filter_map(|env| match &env.msg {
            replica::Message::Raft(m) if env.to == NodeId(2) => match &m.body {
                Body::Append(a) => Some((a.entries.len(), a.commit)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(appends_to_2.len(), 1, "one append, carrying the commit: {appends_to_2:?}");
    assert_eq!(appends_to_2[0], (1, a.index), "entry b, and the commit of a");
}
