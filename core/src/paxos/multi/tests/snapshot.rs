//! Compaction and snapshot transfer.

use super::harness::*;
use crate::id::{LogIndex, NodeId};
use crate::paxos::ballot_term;
use crate::paxos::multi::{Body, NackReason};
use crate::replica::{CompactError, Replica, Role};
use crate::time::Duration;
use bytes::Bytes;

fn compact_at_applied(c: &mut Cluster, id: u64, state: &'static str) {
    let now = c.now;
    let px = c.px(id);
    let applied = px.status().applied;
    px.compact(now, applied, Bytes::from_static(state.as_bytes())).unwrap();
}

#[test]
fn a_lagging_acceptor_catches_up_via_snapshot() {
    let mut c = Cluster::with(3, |cfg| cfg.snapshot_chunk_bytes = 4);
    c.elect(1);
    c.isolate(3);
    for i in 0..20 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.stabilize();
    compact_at_applied(&mut c, 1, "state-at-20");
    compact_at_applied(&mut c, 2, "state-at-20");
    assert_eq!(c.node(1).px.status().snapshot_index, LogIndex(20));
    c.heal();
    c.record = true;
    c.advance(Duration::from_millis(30));
    assert_eq!(c.node(3).restores, 1, "installed the leader's snapshot");
    assert!(c.count_delivered(|m| matches!(m.body, Body::Snapshot(_))) >= 3, "in 4-byte chunks");
    let st = c.node(3).px.status();
    assert_eq!((st.snapshot_index, st.commit, st.applied), (LogIndex(20), LogIndex(20), LogIndex(20)));
    assert_eq!(c.node(3).disk.snapshot.as_ref().map(|s| s.data.clone()), Some(Bytes::from_static(b"state-at-20")));
    c.propose(1, "after").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3), alloc::vec![data("after")], "and follows the log from there");
    c.assert_safe();
}

#[test]
fn compaction_takes_applied_slots_only_once() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.stabilize();
    let now = c.now;
    let px = c.px(1);
    assert_eq!(
        px.compact(now, LogIndex(5), Bytes::new()),
        Err(CompactError::NotApplied { index: LogIndex(5), applied: LogIndex(1) })
    );
    px.compact(now, LogIndex(1), Bytes::new()).unwrap();
    assert_eq!(
        px.compact(now, LogIndex(1), Bytes::new()),
        Err(CompactError::AlreadyCompacted { index: LogIndex(1), existing: LogIndex(1) })
    );
}

#[test]
fn a_candidate_behind_every_snapshot_is_refused_and_a_better_node_leads() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for i in 0..10 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.stabilize();
    compact_at_applied(&mut c, 1, "s");
    compact_at_applied(&mut c, 2, "s");
    c.crash(1);
    c.heal();
    c.record = true;
    c.advance(Duration::from_millis(150));
    c.campaign(3);
    c.stabilize();
    assert_ne!(c.role(3), Role::Leader);
    assert!(c.count_delivered(|m| matches!(m.body, Body::Nack(n) if n.reason == NackReason::Behind)) > 0);
    c.advance(Duration::from_millis(500));
    assert_eq!(c.leader(), Some(2), "the node that holds the snapshot leads");
    assert_eq!(c.node(3).px.status().commit, LogIndex(10), "and brings the lagging one up to date");
    assert_eq!(c.node(3).px.status().leader, Some(NodeId(2)));
}

#[test]
fn a_snapshot_transfer_resumes_after_lost_chunks() {
    let mut c = Cluster::with(3, |cfg| cfg.snapshot_chunk_bytes = 3);
    c.elect(1);
    c.isolate(3);
    for i in 0..5 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.stabilize();
    compact_at_applied(&mut c, 1, "a-longer-snapshot-state");
    c.heal();
    c.propose(1, "kick").unwrap();
    c.poll();
    // The first window of chunks is lost.
    c.deliver_only(|_, to, m| !(to == NodeId(3) && matches!(m.body, Body::Snapshot(_))));
    c.stabilize();
    assert_eq!(c.node(3).restores, 0);
    c.advance(Duration::from_millis(60));
    assert_eq!(c.node(3).restores, 1, "resumed after the next heartbeat answer");
    let snap = c.node(3).disk.snapshot.clone().expect("stored");
    assert_eq!(snap.data, Bytes::from_static(b"a-longer-snapshot-state"));
    assert_eq!(c.applied_commands(3), alloc::vec![data("kick")]);
    c.assert_safe();
}

#[test]
fn a_snapshot_over_the_limit_is_refused_and_changes_nothing() {
    let mut c = Cluster::with(3, |cfg| cfg.max_snapshot_bytes = if cfg.id == NodeId(3) { 4 } else { 1 << 20 });
    c.elect(1);
    c.isolate(3);
    c.propose(1, "w").unwrap();
    c.stabilize();
    compact_at_applied(&mut c, 1, "too-big-for-node-3");
    c.heal();
    c.advance(Duration::from_millis(40));
    assert_eq!(c.node(3).restores, 0);
    assert_eq!(c.node(3).px.status().commit, LogIndex(0));
    assert_eq!(c.leader(), Some(1), "the leader keeps serving the others");
}

#[test]
fn a_lagging_candidate_is_refused_when_its_promise_would_be_too_large() {
    let mut c = Cluster::with(3, |cfg| cfg.max_promise_bytes = 100);
    c.elect(1);
    c.isolate(3);
    for i in 0..10 {
        c.propose(1, &alloc::format!("a-longer-command-{i}")).unwrap();
    }
    c.stabilize();
    c.crash(1);
    c.heal();
    c.px(2).last_leader_contact = None; // the leader is gone
    c.record = true;
    c.campaign(3);
    c.stabilize();
    assert!(c.count_delivered(|m| matches!(m.body, Body::Nack(n) if n.reason == NackReason::Behind)) > 0);
    assert_ne!(c.role(3), Role::Leader, "no snapshot, but ten entries is past the promise budget");
    c.advance(Duration::from_millis(400));
    assert_eq!(c.leader(), Some(2));
    assert_eq!(c.applied_commands(3).len(), 10);
}

#[test]
fn a_snapshot_exactly_at_the_limit_is_taken() {
    let state = "exactly-18-bytes!!";
    assert_eq!(state.len(), 18);
    let mut c = Cluster::with(3, |cfg| cfg.max_snapshot_bytes = 18);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "w").unwrap();
    c.stabilize();
    compact_at_applied(&mut c, 1, state);
    c.heal();
    c.advance(Duration::from_millis(40));
    assert_eq!(c.node(3).restores, 1);
}

#[test]
fn compacting_below_the_last_stored_slot_writes_nothing_twice() {
    // Slots 6..=10 are already with storage when the service compacts at
    // 5; the next writes must continue after 10, not repeat 6..=10 (the
    // harness checks every write is contiguous with what storage holds).
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..10 {
        c.propose(1, &alloc::format!("w{i}")).unwrap();
    }
    c.stabilize();
    let last = c.node(1).px.status().last_index;
    let now = c.now;
    c.px(1).compact(now, LogIndex(5), Bytes::from_static(b"state-at-5")).unwrap();
    c.propose(1, "after").unwrap();
    c.stabilize();
    let disk = &c.node(1).disk;
    assert_eq!(disk.snapshot.as_ref().map(|s| s.meta.index), Some(LogIndex(5)));
    assert_eq!(disk.entries.first().map(|e| e.index), Some(LogIndex(6)));
    assert_eq!(disk.entries.last().map(|e| e.index), Some(last.next()));
    assert_eq!(c.applied_commands(1).last(), Some(&data("after")));
}

#[test]
fn chunks_of_two_different_snapshots_are_never_spliced() {
    // The leader compacted again mid-transfer and resumes with the newer
    // snapshot at an offset that happens to match what the acceptor holds
    // of the older one. The acceptor must ask for a restart, not append.
    let mut c = Cluster::new(3);
    c.elect(1);
    let ballot = c.ballot(1);
    let membership = c.node(3).px.membership.clone();
    let now = c.now;
    let chunk = |index: u64, offset: u64, data: &'static [u8], done: bool| crate::paxos::multi::Message {
        ballot,
        body: Body::Snapshot(crate::paxos::multi::SnapshotChunk {
            meta: crate::replica::SnapshotMeta {
                index: LogIndex(index),
                term: ballot_term(ballot),
                membership: membership.clone(),
            },
            offset,
            data: Bytes::from_static(data),
            done,
        }),
    };
    let older = chunk(20, 0, b"AAAA", false);
    c.px(3).handle_message(now, NodeId(1), crate::replica::Message::MultiPaxos(older)).unwrap();
    let newer = chunk(25, 4, b"BBBB", true);
    c.px(3).handle_message(now, NodeId(1), crate::replica::Message::MultiPaxos(newer)).unwrap();
    c.poll();
    assert_eq!(c.node(3).restores, 0, "installed a splice of two snapshots");
    assert!(c.node(3).disk.snapshot.is_none());
    let restart = c.queue.iter().any(|(_, to, m)| {
        to.0 == 1
            && matches!(m.body, Body::SnapshotResponse(r) if r.index == LogIndex(25) && r.next_offset == 0 && !r.done)
    });
    assert!(restart, "asks for the newer snapshot from its start: {:?}", c.queue);
}
