use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{Append, AppendResponse, Body, Config, Message, Raft, SnapshotChunk};
use crate::replica::{
    self, Entry, EntryKind, HardState, Membership, MessageError, ProposeError, RecoverError, Recovered, Replica,
    SnapshotMeta,
};
use bytes::Bytes;
use proptest::prelude::*;

fn send(c: &mut Cluster, from: u64, to: u64, term: u64, body: Body) -> Result<(), MessageError> {
    let now = c.now;
    c.raft(to).handle_message(now, NodeId(from), replica::Message::Raft(Message { term: Term(term), body }))
}

#[test]
fn malformed_messages_are_errors_and_change_nothing() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let t = c.term(2).0;
    let e = |i: u64, term: u64| Entry::command(LogIndex(i), Term(term), Bytes::new());
    let gap =
        Append { prev_index: LogIndex(1), prev_term: Term(t), entries: alloc::vec![e(3, t)], commit: LogIndex(0) };
    assert!(matches!(send(&mut c, 1, 2, t, Body::Append(gap)), Err(MessageError::Malformed(_))));
    let future =
        Append { prev_index: LogIndex(1), prev_term: Term(t + 1), entries: alloc::vec![], commit: LogIndex(0) };
    assert!(send(&mut c, 1, 2, t, Body::Append(future)).is_err());
    let bad_conf = Append {
        prev_index: LogIndex(1),
        prev_term: Term(t),
        entries: alloc::vec![Entry {
            index: LogIndex(2),
            term: Term(t),
            kind: EntryKind::Membership,
            data: Bytes::from_static(b"junk")
        }],
        commit: LogIndex(0),
    };
    assert!(send(&mut c, 1, 2, t, Body::Append(bad_conf)).is_err());
    // Entry terms never fall along the log (Log Matching) and never pass
    // the sender's own term.
    let falling = Append {
        prev_index: LogIndex(1),
        prev_term: Term(t),
        entries: alloc::vec![e(2, t), e(3, t - 1)],
        commit: LogIndex(0),
    };
    assert!(matches!(send(&mut c, 1, 2, t, Body::Append(falling)), Err(MessageError::Malformed(_))));
    let ahead =
        Append { prev_index: LogIndex(1), prev_term: Term(t), entries: alloc::vec![e(2, t + 1)], commit: LogIndex(0) };
    assert!(matches!(send(&mut c, 1, 2, t, Body::Append(ahead)), Err(MessageError::Malformed(_))));
    assert_eq!(c.last_index(2), LogIndex(1), "nothing appended");
    assert_eq!(send(&mut c, 2, 2, t, Body::TimeoutNow), Err(MessageError::FromSelf));
    let past_end = Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(99) });
    assert!(send(&mut c, 2, 1, t, past_end).is_err());
    assert_eq!(c.commit(1), LogIndex(1));
    let empty_conf = SnapshotChunk {
        meta: SnapshotMeta { index: LogIndex(9), term: Term(t), membership: Membership::default() },
        offset: 0,
        data: Bytes::new(),
        done: true,
    };
    assert!(send(&mut c, 1, 2, t, Body::Snapshot(empty_conf)).is_err());
    let from_the_future = SnapshotChunk {
        meta: SnapshotMeta { index: LogIndex(9), term: Term(t + 1), membership: c.node(2).raft.membership().clone() },
        offset: 0,
        data: Bytes::new(),
        done: true,
    };
    assert!(matches!(send(&mut c, 1, 2, t, Body::Snapshot(from_the_future)), Err(MessageError::Malformed(_))));
    c.stabilize();
    c.propose(1, "still fine").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(2), alloc::vec![data("still fine")]);
}

#[test]
fn the_last_term_is_refused_so_no_term_is_ever_reused() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let hb = Body::Heartbeat(crate::raft::Heartbeat { commit: LogIndex(0), read_round: 0 });
    assert_eq!(send(&mut c, 3, 2, u64::MAX, hb), Err(MessageError::Malformed("term space exhausted")));
    assert!(c.term(2) < Term(u64::MAX));
}

#[test]
fn an_oversized_snapshot_is_refused() {
    let mut c = Cluster::with(3, |cfg| cfg.max_snapshot_bytes = 10);
    c.elect(1);
    let t = c.term(2).0;
    let meta = SnapshotMeta { index: LogIndex(50), term: Term(t), membership: c.node(1).raft.membership().clone() };
    let chunk = SnapshotChunk { meta, offset: 0, data: Bytes::from_static(&[0; 11]), done: false };
    assert!(send(&mut c, 1, 2, t, Body::Snapshot(chunk)).is_err());
    assert_eq!(c.node(2).restores, 0);
}

#[test]
fn proposal_errors_are_typed() {
    let mut c = Cluster::with(3, |cfg| {
        cfg.max_entry_bytes = 8;
        cfg.max_uncommitted_bytes = 16;
    });
    c.elect(1);
    assert_eq!(c.propose(2, "x"), Err(ProposeError::NotLeader { leader_hint: Some(NodeId(1)) }));
    assert_eq!(c.propose(1, "123456789"), Err(ProposeError::ProposalTooLarge { size: 9, max: 8 }));
    c.isolate(1);
    c.propose(1, "12345678").unwrap();
    c.propose(1, "12345678").unwrap();
    assert_eq!(c.propose(1, "1"), Err(ProposeError::Busy));
    c.heal();
    c.stabilize();
    c.advance(crate::time::Duration::from_millis(15));
    c.propose(1, "1").unwrap();
}

#[test]
fn redelivering_every_old_message_in_reverse_is_harmless() {
    let mut c = Cluster::new(3);
    c.record = true;
    c.elect(1);
    for i in 0..30 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
        if i % 7 == 0 {
            c.stabilize();
        }
    }
    c.stabilize();
    let old = core::mem::take(&mut c.delivered);
    c.record = false;
    for (from, to, m) in old.into_iter().rev() {
        c.deliver(from, to, m);
    }
    c.stabilize();
    c.advance(crate::time::Duration::from_millis(50));
    c.assert_safe();
    assert_eq!(c.applied_commands(3).len(), 30);
}

#[test]
fn recovery_rejects_gaps_and_term_regressions() {
    let e = |i: u64, t: u64| Entry::command(LogIndex(i), Term(t), Bytes::new());
    let cfg = test_config(1);
    let m = Membership::voters_only([NodeId(1)]).unwrap();
    let now = crate::time::Instant::ZERO;
    let gap = Recovered { entries: alloc::vec![e(1, 1), e(3, 1)], ..Default::default() };
    assert!(matches!(
        Raft::new(cfg.clone(), now, gap, m.clone()),
        Err(crate::raft::NewError::Recover(RecoverError::Gap { .. }))
    ));
    let back = Recovered { entries: alloc::vec![e(1, 2), e(2, 1)], ..Default::default() };
    assert!(Raft::new(cfg.clone(), now, back, m.clone()).is_err());
    let conf = Recovered {
        entries: alloc::vec![Entry {
            index: LogIndex(1),
            term: Term(1),
            kind: EntryKind::Membership,
            data: Bytes::new()
        }],
        ..Default::default()
    };
    assert!(Raft::new(cfg.clone(), now, conf, m.clone()).is_err());
    // A term behind the log's last entry is raised to it.
    let behind = Recovered {
        hard_state: HardState { term: Term(1), vote: Some(NodeId(1)), commit: LogIndex(9) },
        entries: alloc::vec![e(1, 1), e(2, 3)],
        ..Default::default()
    };
    let r = Raft::new(cfg, now, behind, m).unwrap();
    assert_eq!(r.status().term, Term(3));
    assert_eq!(r.status().commit, LogIndex(2), "commit is capped at the log");
}

#[test]
fn invalid_configs_are_refused() {
    let mut cfg = Config::new(NodeId(1), 0);
    cfg.heartbeat_interval = cfg.election_timeout * 2;
    assert!(Raft::new(cfg, crate::time::Instant::ZERO, Recovered::default(), Membership::default()).is_err());
}

fn arb_body() -> impl Strategy<Value = Body> {
    let idx = 0u64..20;
    let term = 0u64..6;
    prop_oneof![
        (any::<bool>(), any::<bool>(), idx.clone(), term.clone()).prop_map(|(p, t, i, tm)| Body::Vote(
            crate::raft::VoteRequest { pre_vote: p, transfer: t, last_index: LogIndex(i), last_term: Term(tm) }
        )),
        (any::<bool>(), any::<bool>())
            .prop_map(|(p, g)| Body::VoteResponse(crate::raft::VoteResponse { pre_vote: p, granted: g })),
        (idx.clone(), term.clone(), proptest::collection::vec(term.clone(), 0..4), idx.clone()).prop_map(
            |(pi, pt, ts, c)| {
                let mut t = pt;
                let entries = ts
                    .iter()
                    .enumerate()
                    .map(|(k, x)| {
                        t = t.max(*x);
                        Entry::command(LogIndex(pi + 1 + k as u64), Term(t), Bytes::new())
                    })
                    .collect();
                Body::Append(Append { prev_index: LogIndex(pi), prev_term: Term(pt), entries, commit: LogIndex(c) })
            }
        ),
        idx.clone().prop_map(|m| Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(m) })),
        (idx.clone(), idx.clone(), term.clone()).prop_map(|(r, h, t)| Body::AppendResponse(AppendResponse::Rejected {
            rejected: LogIndex(r),
            hint_index: LogIndex(h),
            hint_term: Term(t)
        })),
        (idx.clone(), 0u64..5)
            .prop_map(|(c, r)| Body::Heartbeat(crate::raft::Heartbeat { commit: LogIndex(c), read_round: r })),
        (0u64..5).prop_map(|r| Body::HeartbeatResponse(crate::raft::HeartbeatResponse { read_round: r })),
        Just(Body::TimeoutNow),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Arbitrary messages from arbitrary peers never panic a node, and the
    /// cluster still commits afterwards.
    #[test]
    fn arbitrary_messages_never_panic(msgs in proptest::collection::vec((1u64..5, 1u64..4, 0u64..6, arb_body()), 0..60)) {
        let mut c = Cluster::new(3);
        c.elect(1);
        for (from, to, term, body) in msgs {
            let _ = send(&mut c, from, to, term, body);
            c.poll();
        }
        c.queue.clear();
        c.advance(crate::time::Duration::from_millis(800));
        let leader = c.leader();
        prop_assert!(leader.is_some());
    }
}

#[test]
fn a_term_too_far_ahead_is_refused_and_changes_nothing() {
    // Three forged heartbeat answers with term 2^64 - 2 used to move every
    // node to that term, with no election left to win.
    let mut c = Cluster::new(3);
    c.elect(1);
    let term = c.term(1);
    let answer = || Body::HeartbeatResponse(crate::raft::HeartbeatResponse { read_round: 0 });
    for forged in [u64::MAX - 1, term.0 + replica::MAX_TERM_JUMP + 1] {
        assert_eq!(send(&mut c, 2, 1, forged, answer()), Err(MessageError::TermJump { ours: term.0, theirs: forged }));
    }
    assert_eq!((c.term(1), c.leader()), (term, Some(1)), "nothing changed");
    // A jump a correct peer could make is still taken.
    send(&mut c, 2, 1, term.0 + replica::MAX_TERM_JUMP, answer()).unwrap();
    assert_eq!(c.term(1), Term(term.0 + replica::MAX_TERM_JUMP));
}
