use super::harness::*;
use crate::id::LogIndex;
use crate::raft::Body;
use crate::replica::{CompactError, Replica};
use bytes::Bytes;

fn compact(c: &mut Cluster, id: u64, data: &str) -> Result<(), CompactError> {
    let now = c.now;
    let applied = c.node(id).raft.log.applied;
    c.raft(id).compact(now, applied, Bytes::copy_from_slice(data.as_bytes()))
}

#[test]
fn compaction_drops_covered_entries_and_refuses_bad_requests() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..10 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    compact(&mut c, 1, "state@11").unwrap();
    assert_eq!(c.node(1).raft.log.first_index(), LogIndex(12));
    let now = c.now;
    assert_eq!(
        c.raft(1).compact(now, LogIndex(11), Bytes::new()),
        Err(CompactError::AlreadyCompacted { index: LogIndex(11), existing: LogIndex(11) })
    );
    assert_eq!(
        c.raft(1).compact(now, LogIndex(50), Bytes::new()),
        Err(CompactError::NotApplied { index: LogIndex(50), applied: LogIndex(11) })
    );
    c.poll();
    assert!(c.node(1).disk.snapshot.is_some(), "the snapshot reached storage");
    assert!(c.node(1).disk.entries.is_empty());
    c.propose(1, "after").unwrap();
    c.stabilize();
    assert_eq!(c.applied_commands(3).len(), 11);
}

#[test]
fn a_follower_far_behind_catches_up_by_a_chunked_snapshot() {
    let mut c = Cluster::with(3, |cfg| cfg.snapshot_chunk_bytes = 16);
    c.elect(1);
    c.isolate(3);
    for i in 0..50 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    let state = "x".repeat(200);
    compact(&mut c, 1, &state).unwrap();
    c.record = true;
    c.heal();
    c.advance(crate::time::Duration::from_millis(50));
    let chunks = c.count_delivered(|m| matches!(m.body, Body::Snapshot(_)));
    assert!(chunks >= 13, "200 bytes in 16-byte chunks, sent {chunks}");
    assert_eq!(c.node(3).restores, 1);
    let snap = c.node(3).disk.snapshot.clone().expect("installed durably");
    assert_eq!(snap.data, Bytes::from(state));
    assert_eq!(snap.meta.index, LogIndex(51));
    c.propose(1, "next").unwrap();
    c.stabilize();
    assert_eq!(c.node(3).applied.get(&52).map(|e| e.data.clone()), Some(data("next")));
    c.assert_safe();
}

#[test]
fn a_broken_snapshot_transfer_resumes() {
    let mut c = Cluster::with(3, |cfg| cfg.snapshot_chunk_bytes = 8);
    c.elect(1);
    c.isolate(3);
    for i in 0..20 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    compact(&mut c, 1, &"y".repeat(100)).unwrap();
    c.heal();
    c.record = true;
    // Let a few chunks through, then cut the link mid-transfer.
    for _ in 0..3 {
        c.poll();
        let batch: alloc::vec::Vec<_> = c.queue.drain(..).collect();
        for (f, t, m) in batch {
            c.deliver(f, t, m);
        }
    }
    c.isolate(3);
    c.advance(crate::time::Duration::from_millis(30));
    assert_eq!(c.node(3).restores, 0, "not yet complete");
    c.heal();
    c.advance(crate::time::Duration::from_millis(60));
    assert_eq!(c.node(3).restores, 1);
    assert_eq!(c.node(3).raft.log.snapshot.data.len(), 100);
    c.assert_safe();
}

#[test]
fn a_restart_from_a_snapshot_restores_then_replays() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..10 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    compact(&mut c, 2, "s").unwrap();
    for i in 10..15 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    c.crash(2);
    c.restart(2);
    let mut out = crate::replica::Output::default();
    c.raft(2).poll_output(&mut out);
    let restored = out.restore.expect("service restored first");
    assert_eq!(restored.meta.index, LogIndex(11));
    assert!(out.committed.iter().all(|e| e.index > LogIndex(11)));
    // The commit index on disk may lag; the leader's next message completes it.
    let mut c2 = c;
    c2.advance(crate::time::Duration::from_millis(30));
    assert_eq!(c2.node(2).raft.log.applied, LogIndex(16));
    c2.assert_safe();
}

#[test]
fn a_node_restarted_from_a_snapshot_hands_it_to_the_service_first() {
    // No entries past the snapshot and nothing to write or send: the
    // restore is what the first poll is for, and `has_output` says so.
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..5 {
        c.propose(1, &alloc::format!("{i}")).unwrap();
    }
    c.stabilize();
    compact(&mut c, 2, "state").unwrap();
    c.stabilize();
    c.crash(2);
    c.restart(2);
    assert!(c.node(2).disk.entries.is_empty(), "the snapshot covers the whole log");
    assert!(c.raft(2).has_output());
    c.poll(); // checks has_output against what poll_output yields
    assert_eq!(c.node(2).restores, 1);
    assert_eq!(c.node(2).raft.log.applied, c.node(2).disk.snapshot.as_ref().unwrap().meta.index);
}

#[test]
fn the_entry_accessor_returns_held_entries_and_none_under_the_snapshot() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let p = c.propose(1, "held").unwrap();
    c.stabilize();
    let e = c.node(1).raft.entry(p.index).expect("held");
    assert_eq!((e.index, e.term, e.data), (p.index, p.term, data("held")));
    assert_eq!(c.node(1).raft.entry(p.index.next()), None, "past the end");
    compact(&mut c, 1, "state").unwrap();
    assert_eq!(c.node(1).raft.entry(p.index), None, "covered by the snapshot");
}

#[test]
fn a_two_chunk_snapshot_goes_out_as_exactly_two_chunks() {
    // Fewer chunks than the window: the sender must stop at the last one.
    let mut c = Cluster::with(3, |cfg| cfg.snapshot_chunk_bytes = 4);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "w").unwrap();
    c.stabilize();
    compact(&mut c, 1, "abcdef").unwrap();
    c.record = true;
    c.heal();
    c.advance(crate::time::Duration::from_millis(30));
    assert_eq!(c.count_delivered(|m| matches!(m.body, Body::Snapshot(_))), 2);
    assert_eq!(c.node(3).disk.snapshot.as_ref().map(|s| s.data.clone()), Some(data("abcdef")));
}

#[test]
fn a_snapshot_exactly_at_the_limit_is_taken() {
    let mut c = Cluster::with(3, |cfg| cfg.max_snapshot_bytes = 6);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "w").unwrap();
    c.stabilize();
    compact(&mut c, 1, "abcdef").unwrap();
    c.heal();
    c.advance(crate::time::Duration::from_millis(30));
    assert_eq!(c.node(3).restores, 1);
}

#[test]
fn chunks_of_two_different_snapshots_are_never_spliced() {
    // The leader compacted again mid-transfer and resumes with the newer
    // snapshot at an offset that happens to match what the follower holds
    // of the older one. The follower must ask for a restart, not append.
    let mut c = Cluster::new(3);
    c.elect(1);
    let term = c.term(1);
    let membership = c.node(3).raft.membership().clone();
    let now = c.now;
    let chunk = |index: u64, offset: u64, data: &'static [u8], done: bool| crate::raft::Message {
        term,
        body: Body::Snapshot(crate::raft::SnapshotChunk {
            meta: crate::replica::SnapshotMeta { index: LogIndex(index), term, membership: membership.clone() },
            offset,
            data: Bytes::from_static(data),
            done,
        }),
    };
    let older = chunk(20, 0, b"AAAA", false);
    c.raft(3).handle_message(now, crate::id::NodeId(1), crate::replica::Message::Raft(older)).unwrap();
    let newer = chunk(25, 4, b"BBBB", true);
    c.raft(3).handle_message(now, crate::id::NodeId(1), crate::replica::Message::Raft(newer)).unwrap();
    c.poll();
    assert_eq!(c.node(3).restores, 0, "installed a splice of two snapshots");
    let restart = c.queue.iter().any(|(_, to, m)| {
        to.0 == 1
            && matches!(m.body, Body::SnapshotResponse(r) if r.index == LogIndex(25) && r.next_offset == 0 && !r.done)
    });
    assert!(restart, "asks for the newer snapshot from its start: {:?}", c.queue);
}

/// Memberships for the configuration tests: the three voters, the joint
/// step to four, and the four alone.
fn three_joint_four() -> [crate::replica::Membership; 3] {
    use crate::id::NodeId;
    let three = crate::replica::Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap();
    let change = crate::replica::MembershipChange {
        voters: (1..=4).map(NodeId).collect(),
        learners: alloc::vec![],
        addresses: alloc::vec![],
    };
    let joint = three.enter_joint(&change).unwrap();
    let four = joint.leave_joint();
    [three, joint, four]
}

#[test]
fn a_snapshot_between_two_configuration_entries_records_the_one_in_force_and_keeps_the_later() {
    let [_, joint, four] = three_joint_four();
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), crate::replica::Membership::default());
    c.elect(1);
    let now = c.now;
    let change = crate::replica::MembershipChange {
        voters: (1..=4).map(crate::id::NodeId).collect(),
        learners: alloc::vec![],
        addresses: alloc::vec![],
    };
    let j = c.raft(1).change_membership(now, change).unwrap().index;
    c.stabilize();
    assert!(c.last_index(1) > j, "the leave entry follows the joint one");
    c.raft(1).compact(now, j, data("state")).unwrap();
    assert_eq!(c.node(1).raft.log.snapshot.meta.membership, joint, "the configuration in force at {j:?}");
    assert_eq!(c.node(1).raft.membership(), &four, "the later entry still rules");
}

#[test]
fn installing_a_snapshot_keeps_the_configurations_of_the_suffix_it_keeps() {
    // Follower 2 holds the joint entry (2) and the leave entry (3), not yet
    // committed; a snapshot at 2 with the same term keeps entry 3, and
    // with it the four-voter configuration. A snapshot that conflicts at
    // 2 drops both entries and their configurations.
    use crate::id::{NodeId, Term};
    use crate::replica::{Entry, EntryKind, HardState, Recovered, SnapshotMeta};
    let [three, joint, four] = three_joint_four();
    let config = |i: u64, m: &crate::replica::Membership| Entry {
        index: LogIndex(i),
        term: Term(1),
        kind: EntryKind::Membership,
        data: m.encode(),
    };
    let follower = || {
        let entries = alloc::vec![Entry::noop(LogIndex(1), Term(1)), config(2, &joint), config(3, &four)];
        let disk = Recovered { hard_state: HardState { term: Term(1), ..Default::default() }, snapshot: None, entries };
        crate::raft::Raft::new(test_config(2), crate::time::Instant::from_millis(1), disk, three.clone()).unwrap()
    };
    let install = |r: &mut crate::raft::Raft, term: u64| {
        let meta = SnapshotMeta { index: LogIndex(2), term: Term(term), membership: joint.clone() };
        let chunk = crate::raft::SnapshotChunk { meta, offset: 0, data: data("state"), done: true };
        let msg = crate::raft::Message { term: Term(2), body: Body::Snapshot(chunk) };
        r.handle_message(crate::time::Instant::from_millis(2), NodeId(1), crate::replica::Message::Raft(msg)).unwrap();
    };
    let mut r = follower();
    assert_eq!(r.membership(), &four);
    install(&mut r, 1);
    assert_eq!(r.log.last_index(), LogIndex(3));
    assert_eq!(r.membership(), &four, "entry 3 is kept, and so is its configuration");
    let mut r = follower();
    install(&mut r, 2);
    assert_eq!(r.log.last_index(), LogIndex(2));
    assert_eq!(r.membership(), &joint, "the snapshot's configuration, nothing from the dropped suffix");
}
