//! The replica interface as a caller sees it: events, timers, status,
//! `has_output`, and durability of every vote.

use super::harness::*;
use crate::id::{LogIndex, NodeId, Term};
use crate::raft::{Body, Config, Message, Raft, VoteRequest};
use crate::replica::{self, Entry, Event, HardState, Membership, Output, PeerStatus, Recovered, Replica, Role};
use crate::time::{Duration, Instant};
use bytes::Bytes;

#[test]
fn role_events_follow_an_election() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let roles = |id: u64| -> alloc::vec::Vec<(Role, Option<NodeId>)> {
        c.node(id)
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RoleChanged { role, leader, .. } => Some((*role, *leader)),
                _ => None,
            })
            .collect()
    };
    let one = roles(1);
    assert_eq!(one.first(), Some(&(Role::Follower, None)), "the first event is the starting role");
    assert!(one.contains(&(Role::Candidate, None)) || one.contains(&(Role::PreCandidate, None)));
    assert_eq!(one.last(), Some(&(Role::Leader, Some(NodeId(1)))));
    assert_eq!(roles(2).last(), Some(&(Role::Follower, Some(NodeId(1)))), "followers learn the leader");
    // No duplicate events for an unchanged role.
    let before = c.node(2).events.len();
    c.advance(Duration::from_millis(50));
    assert_eq!(c.node(2).events.len(), before);
}

#[test]
fn status_and_peer_status_report_the_leader_view() {
    let mut c = Cluster::new(3);
    c.elect(2);
    c.propose(2, "x").unwrap();
    c.stabilize();
    assert_eq!(c.node(2).raft.id(), NodeId(2));
    let s = c.node(2).raft.status();
    assert_eq!(
        (s.id, s.role, s.leader, s.commit, s.last_index),
        (NodeId(2), Role::Leader, Some(NodeId(2)), LogIndex(2), LogIndex(2))
    );
    let mut peers: alloc::vec::Vec<PeerStatus> = alloc::vec::Vec::new();
    c.node(2).raft.peer_status(&mut peers);
    let mut ids: alloc::vec::Vec<u64> = peers.iter().map(|p| p.id.0).collect();
    ids.sort();
    assert_eq!(ids, alloc::vec![1, 3]);
    assert!(peers.iter().all(|p| p.match_index == LogIndex(2) && p.voter && p.last_heard.is_some()));
    let mut none = alloc::vec::Vec::new();
    c.node(1).raft.peer_status(&mut none);
    assert!(none.is_empty(), "followers know no peer progress");
}

#[test]
fn timers_follow_the_role() {
    let mut c = Cluster::new(3);
    c.add_node(test_config(4), Membership::default());
    assert_eq!(c.node(4).raft.poll_timeout(), None, "a node outside the configuration never campaigns");
    c.elect(1);
    let now = c.now;
    let hb = c.node(1).raft.poll_timeout().unwrap();
    assert!(hb > now && hb <= now + Duration::from_millis(10), "a leader wakes for its next heartbeat");
    let et = c.node(2).raft.poll_timeout().unwrap();
    assert!(et >= now + Duration::from_millis(100), "a follower waits a full election timeout");
    let now = c.now;
    c.raft(1)
        .change_membership(
            now,
            crate::replica::MembershipChange {
                voters: alloc::vec![NodeId(1), NodeId(2), NodeId(3)],
                learners: alloc::vec![NodeId(4)],
                addresses: alloc::vec![],
            },
        )
        .unwrap();
    c.stabilize();
    assert_eq!(c.node(4).raft.status().role, Role::Learner);
    assert_eq!(c.node(4).raft.poll_timeout(), None, "learners never campaign");
}

/// `has_output` is exactly "poll_output would yield something", at every
/// step of a busy run.
#[test]
fn has_output_matches_poll_output() {
    let mut c = Cluster::new(3);
    let mut checked = 0;
    for step in 0..400u64 {
        c.now += Duration::from_millis(1);
        let now = c.now;
        for id in 1..=3 {
            let r = c.raft(id);
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
            if step % 7 == id {
                let _ = r.propose(now, Bytes::from_static(b"p"));
                let _ = r.read(now, crate::replica::ReadId(step));
            }
            let predicted = r.has_output();
            let mut out = Output::default();
            r.poll_output(&mut out);
            assert_eq!(predicted, !out.is_empty(), "node {id} step {step}: has_output disagrees with {out:?}");
            checked += 1;
            // Hand the output back to the harness by re-queueing.
            if let Some(p) = out.persist.take() {
                write(&mut c.nodes.get_mut(&id).unwrap().disk, &p);
                c.raft(id).handle_persisted(now, p.id);
            }
            for env in out.messages.drain(..) {
                let replica::Message::Raft(m) = env.msg else { panic!("raft sent another protocol") };
                c.queue.push_back((NodeId(id), env.to, m));
            }
        }
        while let Some((from, to, m)) = c.queue.pop_front() {
            c.deliver(from, to, m);
        }
    }
    assert!(checked > 1000);
    assert!(c.leader().is_some());
}

/// A vote granted in a term already durable still waits for the vote
/// itself to be written (Raft Figure 2: persist before responding).
#[test]
fn a_vote_in_an_already_durable_term_is_persisted_before_the_grant() {
    let mut c = Cluster::with(3, |cfg| cfg.pre_vote = false);
    c.auto_sync = false;
    let now = c.now;
    // Node 2 learns term 5 from a candidate whose log is too short to win
    // its vote, and makes that term durable.
    c.raft(1).log.push(Entry::command(LogIndex(1), Term(1), Bytes::new()));
    let vote = |last_index: u64| Message {
        term: Term(5),
        body: Body::Vote(VoteRequest {
            pre_vote: false,
            transfer: false,
            last_index: LogIndex(last_index),
            last_term: Term(if last_index > 0 { 1 } else { 0 }),
        }),
    };
    c.raft(2).log.push(Entry::command(LogIndex(1), Term(1), Bytes::new()));
    c.raft(2).handle_message(now, NodeId(3), replica::Message::Raft(vote(0))).unwrap();
    c.poll();
    c.sync(2);
    c.poll();
    c.queue.clear();
    assert_eq!((c.term(2), c.node(2).raft.vote), (Term(5), None));
    // Now an up-to-date candidate asks in the same term: only the vote changes.
    c.raft(2).handle_message(now, NodeId(1), replica::Message::Raft(vote(1))).unwrap();
    assert_eq!(c.node(2).raft.vote, Some(NodeId(1)));
    c.poll();
    assert!(c.queue.is_empty(), "the grant must wait for the vote to be durable");
    assert!(!c.node(2).unsynced.is_empty(), "the vote is handed out to be written");
    c.sync(2);
    c.poll();
    assert_eq!(c.node(2).disk.hard_state.vote, Some(NodeId(1)));
    assert!(c.queue.iter().any(|(_, to, m)| to.0 == 1 && matches!(m.body, Body::VoteResponse(r) if r.granted)));
}

#[test]
fn recovery_tolerates_entries_the_snapshot_already_covers() {
    let snap = crate::replica::Snapshot {
        meta: crate::replica::SnapshotMeta {
            index: LogIndex(2),
            term: Term(1),
            membership: Membership::voters_only([NodeId(1)]).unwrap(),
        },
        data: Bytes::from_static(b"s"),
    };
    let e = |i: u64| Entry::command(LogIndex(i), Term(1), Bytes::new());
    let rec =
        Recovered { hard_state: HardState::default(), snapshot: Some(snap), entries: alloc::vec![e(1), e(2), e(3)] };
    let r = Raft::new(test_config(1), Instant::ZERO, rec, Membership::default()).unwrap();
    let s = r.status();
    assert_eq!((s.snapshot_index, s.last_index), (LogIndex(2), LogIndex(3)));
}

#[test]
fn every_zero_limit_is_refused() {
    let base = Config::new(NodeId(1), 0);
    for f in [
        (|c: &mut Config| c.max_append_entries = 0) as fn(&mut Config),
        |c| c.max_inflight_msgs = 0,
        |c| c.snapshot_chunk_bytes = 0,
        |c| c.max_pending_reads = 0,
        |c| c.max_snapshot_bytes = 0,
    ] {
        let mut c = base.clone();
        f(&mut c);
        assert_eq!(c.validate(), Err(crate::raft::ConfigError::ZeroLimit));
    }
    assert_eq!(base.validate(), Ok(()));
}
