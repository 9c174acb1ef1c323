//! Whatever a peer sends — stale ballots, strangers, slots past the log,
//! duplicates, garbage — is handled without a panic.

use super::harness::*;
use crate::id::{Ballot, LogIndex, NodeId, Term};
use crate::paxos::ballot_term;
use crate::paxos::multi::{
    Accept, Accepted, Body, Heartbeat, HeartbeatResponse, Message, Nack, NackReason, Prepare, Promise, SnapshotChunk,
    SnapshotResponse,
};
use crate::replica::{self, Entry, EntryKind, Membership, MessageError, Replica, SnapshotMeta};
use bytes::Bytes;
use proptest::prelude::*;

fn send(c: &mut Cluster, from: u64, to: u64, ballot: Ballot, body: Body) -> Result<(), MessageError> {
    let now = c.now;
    c.px(to).handle_message(now, NodeId(from), replica::Message::MultiPaxos(Message { ballot, body }))
}

fn malformed(r: Result<(), MessageError>) -> bool {
    matches!(r, Err(MessageError::Malformed(_)))
}

#[test]
fn malformed_messages_are_errors_and_change_nothing() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    let b = c.ballot(1);
    let t = ballot_term(b);
    let e = |i: u64, term: Term| Entry::command(LogIndex(i), term, Bytes::new());
    let accept = |entries| Body::Accept(Accept { entries, commit: LogIndex(0) });
    assert!(malformed(send(&mut c, 1, 2, b, accept(alloc::vec![e(2, t), e(4, t)]))), "not consecutive");
    assert!(malformed(send(&mut c, 1, 2, b, accept(alloc::vec![e(2, Term(t.0 - 1))]))), "another ballot");
    let conf = Entry { index: LogIndex(2), term: t, kind: EntryKind::Membership, data: Bytes::new() };
    assert!(malformed(send(&mut c, 1, 2, b, accept(alloc::vec![conf]))), "membership entry");
    assert!(malformed(send(&mut c, 3, 2, b, accept(alloc::vec![e(2, t)]))), "someone else's ballot");
    let huge = Ballot::new(u64::MAX, NodeId(1));
    assert!(
        malformed(send(&mut c, 1, 2, huge, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }))),
        "unpackable"
    );
    let zero = Ballot::new(0, NodeId(3));
    assert!(
        malformed(send(&mut c, 3, 2, zero, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }))),
        "round 0"
    );
    assert_eq!(
        send(&mut c, 2, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None })),
        Err(MessageError::FromSelf)
    );
    assert!(
        malformed(send(&mut c, 9, 2, b, Body::Prepare(Prepare { commit: LogIndex(0), transfer: None }))),
        "stranger"
    );
    let stale = Nack { promised: Ballot::ZERO, reason: NackReason::Stale };
    assert!(malformed(send(&mut c, 2, 1, b, Body::Nack(stale))));
    let up = Body::Promise(Promise { commit: LogIndex(0), entries: alloc::vec![e(1, Term(t.0 + 1))] });
    assert!(malformed(send(&mut c, 2, 1, b, up)), "reports a ballot above the promise");
    let down = Body::Promise(Promise { commit: LogIndex(0), entries: alloc::vec![e(2, t), e(1, t)] });
    assert!(malformed(send(&mut c, 2, 1, b, down)), "slots not ascending");
    let past = Body::Accepted(Accepted { match_index: LogIndex(99) });
    assert!(malformed(send(&mut c, 2, 1, b, past)), "acknowledges a slot past the log");
    let no_conf = SnapshotChunk {
        meta: SnapshotMeta { index: LogIndex(9), term: t, membership: Membership::default() },
        offset: 0,
        data: Bytes::new(),
        done: true,
    };
    assert!(malformed(send(&mut c, 1, 2, b, Body::Snapshot(no_conf))));
    assert_eq!(c.last_index(2), LogIndex(1), "nothing accepted");
    assert_eq!(c.leader(), Some(1));
    c.stabilize();
    c.propose(1, "still fine").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(2), alloc::vec![data("a"), data("still fine")]);
}

#[test]
fn stale_ballots_are_refused_with_the_promise() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let old = c.ballot(1);
    c.isolate(1);
    c.advance(crate::time::Duration::from_millis(400));
    let l = c.leader().unwrap();
    c.queue.clear();
    let t = ballot_term(old);
    let late =
        Body::Accept(Accept { entries: alloc::vec![Entry::command(LogIndex(1), t, data("x"))], commit: LogIndex(1) });
    let other = if l == 2 { 3 } else { 2 };
    send(&mut c, 1, other, old, late).unwrap();
    send(&mut c, 1, other, old, Body::Heartbeat(Heartbeat { commit: LogIndex(5), read_round: 1 })).unwrap();
    c.poll();
    let nacks = c.queue.iter().filter(|(_, to, m)| to.0 == 1 && matches!(m.body, Body::Nack(n) if n.promised > old));
    assert_eq!(nacks.count(), 2);
    assert_eq!(c.commit(other), LogIndex(0), "a stale commit index teaches nothing");
}

#[test]
fn duplicated_messages_change_nothing_the_second_time() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.record = true;
    c.propose(1, "a").unwrap();
    c.stabilize();
    let before = c.node(2).disk.clone();
    let replay: alloc::vec::Vec<_> = c.delivered.clone();
    for (from, to, m) in replay {
        c.deliver(from, to, m);
    }
    c.stabilize();
    assert_eq!(c.node(2).disk, before);
    assert_eq!(c.applied_commands(2), alloc::vec![data("a")]);
    c.assert_safe();
}

#[test]
fn answers_to_a_leadership_not_held_are_ignored() {
    let mut c = Cluster::new(3);
    let b = Ballot::new(7, NodeId(2));
    assert_eq!(send(&mut c, 2, 1, b, Body::Accepted(Accepted { match_index: LogIndex(0) })), Ok(()));
    let hr = Body::HeartbeatResponse(HeartbeatResponse { read_round: 9, match_index: LogIndex(0) });
    assert_eq!(send(&mut c, 2, 1, b, hr), Ok(()));
    let sr = SnapshotResponse { index: LogIndex(3), next_offset: 0, done: true };
    assert_eq!(send(&mut c, 2, 1, b, Body::SnapshotResponse(sr)), Ok(()));
    assert_eq!(send(&mut c, 2, 1, b, Body::Promise(Promise { commit: LogIndex(0), entries: alloc::vec![] })), Ok(()));
    assert!(c.leader().is_none());
}

fn arb_body() -> impl Strategy<Value = Body> {
    let entry =
        (0u64..12, 0u64..(5 << 16), 0u8..2, proptest::collection::vec(any::<u8>(), 0..4)).prop_map(|(i, t, k, d)| {
            Entry { index: LogIndex(i), term: Term(t), kind: EntryKind::from_u8(k).unwrap(), data: Bytes::from(d) }
        });
    let entries = proptest::collection::vec(entry, 0..4);
    prop_oneof![
        (0u64..12).prop_map(|c| Body::Prepare(Prepare { commit: LogIndex(c), transfer: None })),
        (0u64..12, entries.clone()).prop_map(|(c, entries)| Body::Promise(Promise { commit: LogIndex(c), entries })),
        (0u64..6, 0u64..4, 0u8..3).prop_map(|(r, n, k)| Body::Nack(Nack {
            promised: Ballot::new(r, NodeId(n)),
            reason: NackReason::from_u8(k).unwrap()
        })),
        (entries, 0u64..12).prop_map(|(entries, c)| Body::Accept(Accept { entries, commit: LogIndex(c) })),
        (0u64..12).prop_map(|m| Body::Accepted(Accepted { match_index: LogIndex(m) })),
        (0u64..12, 0u64..4).prop_map(|(c, r)| Body::Heartbeat(Heartbeat { commit: LogIndex(c), read_round: r })),
        (0u64..4, 0u64..12)
            .prop_map(|(r, m)| Body::HeartbeatResponse(HeartbeatResponse { read_round: r, match_index: LogIndex(m) })),
        (0u64..12, 0u64..8, any::<bool>()).prop_map(|(i, o, d)| Body::SnapshotResponse(SnapshotResponse {
            index: LogIndex(i),
            next_offset: o,
            done: d
        })),
    ]
}

proptest! {
    /// Arbitrary messages from arbitrary peers, interleaved with normal
    /// operation, never panic; the replica keeps serving.
    #[test]
    fn arbitrary_messages_never_panic(
        msgs in proptest::collection::vec((1u64..=4, 1u64..=3, 0u64..6, 0u64..4, arb_body()), 1..40)
    ) {
        let mut c = Cluster::new(3);
        c.elect(1);
        c.propose(1, "a").unwrap();
        for (from, to, round, node, body) in msgs {
            let _ = send(&mut c, from, to, Ballot::new(round, NodeId(node)), body);
            c.poll();
            c.queue.clear();
        }
        c.advance(crate::time::Duration::from_millis(50));
        prop_assert!(c.leader().is_some() || c.nodes.values().all(|n| n.px.poll_timeout().is_some()));
    }
}

#[test]
fn answers_for_an_earlier_ballot_of_ours_do_not_count() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let old = c.ballot(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    // Node 1 runs phase 1 again (say, pre-empted); an answer to its old
    // ballot arrives late, claiming slots it never accepted in the new one.
    c.px(1).campaign(None);
    c.stabilize();
    let new = c.ballot(1);
    assert!(new > old && c.role(1) == crate::replica::Role::Leader);
    c.isolate(1);
    c.propose(1, "b").unwrap();
    c.poll();
    let before = c.commit(1);
    let late = Body::Accepted(Accepted { match_index: LogIndex(2) });
    assert_eq!(send(&mut c, 2, 1, old, late), Ok(()));
    let late = Body::HeartbeatResponse(HeartbeatResponse { read_round: 99, match_index: LogIndex(2) });
    assert_eq!(send(&mut c, 2, 1, old, late), Ok(()));
    c.poll();
    assert_eq!(c.commit(1), before, "slot 2 is not chosen by an answer to another ballot");
}

#[test]
fn a_re_promise_may_report_slots_accepted_in_the_promised_ballot() {
    let mut c = Cluster::new(3);
    c.campaign(1);
    c.poll();
    let b = c.ballot(1);
    let e = Entry::command(LogIndex(1), ballot_term(b), data("x"));
    let promise = Body::Promise(Promise { commit: LogIndex(0), entries: alloc::vec![e] });
    assert_eq!(send(&mut c, 2, 1, b, promise), Ok(()));
    assert_eq!(c.role(1), crate::replica::Role::Leader);
}

#[test]
fn a_ballot_round_too_far_ahead_is_refused_and_changes_nothing() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let promised = c.ballot(2);
    let round = c.node(2).px.highest_seen.round;
    let forged = Ballot::new(round + replica::MAX_TERM_JUMP + 1, NodeId(3));
    let prepare = Body::Prepare(Prepare { commit: LogIndex(0), transfer: None });
    assert_eq!(send(&mut c, 3, 2, forged, prepare), Err(MessageError::TermJump { ours: round, theirs: forged.round }));
    assert_eq!(c.ballot(2), promised);
    assert_eq!(c.node(2).px.highest_seen.round, round, "nothing changed");
}

/// A transfer prepare must name a ballot below the candidate's own, one
/// that packs: anything else no correct candidate sends (it would let a
/// forged prepare override leases under a ballot nobody followed).
#[test]
fn a_transfer_prepare_naming_a_ballot_not_below_its_own_is_malformed() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.stabilize();
    let leader = c.ballot(1);
    let candidate = Ballot::new(leader.round + 1, NodeId(3));
    let prepare = |t: Ballot| Body::Prepare(Prepare { commit: LogIndex(0), transfer: Some(t) });
    let above = Ballot::new(candidate.round + 1, NodeId(1));
    assert!(malformed(send(&mut c, 3, 2, candidate, prepare(candidate))), "its own ballot");
    assert!(malformed(send(&mut c, 3, 2, candidate, prepare(above))), "a ballot above its own");
    assert!(malformed(send(&mut c, 3, 2, candidate, prepare(Ballot::new(u64::MAX, NodeId(1))))), "unpackable");
    assert_eq!(c.leader(), Some(1), "nothing was promised over the lease");
    assert_eq!(c.ballot(1), leader);
    // The well-formed one is taken (and, naming the followed ballot,
    // promised over the lease).
    assert!(send(&mut c, 3, 2, candidate, prepare(leader)).is_ok());
}
