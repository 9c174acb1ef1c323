//! Membership driven from running nodes: a fresh node joins as a
//! learner, catches up, is promoted, and an old member is removed — the
//! replace path — with every step asked of a follower (forwarded to the
//! leader) and no acknowledged write lost.

use super::tests::{Cluster, get, retry, set};
use super::*;
use crate::client::{ClientError, Refusal};
use crate::store::MemStore;
use futures::executor::block_on;
use synod_core::paxos::multi::{Config as PaxosConfig, MultiPaxos};
use synod_core::raft::{Config as RaftConfig, Raft};
use synod_core::replica::{MemberStep, Membership, Role};
use synod_core::service::kv::{Kv, KvReply, Limits};

/// Starts node `id` with no configuration: it waits to be added.
fn join(c: &mut Cluster, id: u64) {
    c.stores.push(MemStore::new());
    c.handles.push(None);
    let mut cfg = NodeConfig::new(NodeId(id));
    cfg.request_timeout = c.request_timeout();
    cfg.snapshot_every = 50;
    let paxos = c.paxos;
    let factory: ReplicaFactory = Box::new(move |now, recovered| {
        let (election, heartbeat) = (Duration::from_millis(150), Duration::from_millis(20));
        if paxos {
            let mut pc = PaxosConfig::new(NodeId(id), id * 31);
            (pc.election_timeout, pc.heartbeat_interval) = (election, heartbeat);
            let r = MultiPaxos::new(pc, now, recovered, Membership::default()).map_err(|e| e.to_string())?;
            return Ok(Box::new(r) as Box<dyn Replica + Send>);
        }
        let mut rc = RaftConfig::new(NodeId(id), id * 31);
        (rc.election_timeout, rc.heartbeat_interval) = (election, heartbeat);
        let r = Raft::new(rc, now, recovered, Membership::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(r) as Box<dyn Replica + Send>)
    });
    let transport = Arc::new(c.net.endpoint(NodeId(id)));
    let store = Box::new(c.stores[id as usize - 1].clone());
    let h = block_on(start(cfg, store, factory, Box::new(Kv::new(Limits::default())), transport, c.rt.clone()));
    c.handles[id as usize - 1] = Some(h.unwrap());
}

fn step(c: &Cluster, at: u64, s: MemberStep) {
    retry(|| match block_on(c.h(at).member_step(s.clone())) {
        // The previous change's joint phase may still be being left, or
        // the learner still catching up.
        Err(ClientError::Refused(Refusal::ChangePending | Refusal::NotCaughtUp(_))) => Err(ClientError::Unavailable),
        r => r,
    })
}

fn value(c: &Cluster, at: u64, k: &str) -> KvReply {
    KvReply::decode(retry(|| block_on(c.h(at).query(get(k))))).unwrap()
}

#[test]
fn a_fresh_node_joins_is_promoted_and_replaces_a_member() {
    join_promote_and_remove_the_leader(false);
}

#[test]
fn a_fresh_node_joins_a_multi_paxos_cluster_is_promoted_and_replaces_a_member() {
    join_promote_and_remove_the_leader(true);
}

fn join_promote_and_remove_the_leader(paxos: bool) {
    let mut c = Cluster::with_protocol(3, paxos);
    let leader = c.leader();
    let follower = if leader == 1 { 2 } else { 1 };
    for i in 0..120 {
        retry(|| block_on(c.h(follower).propose(set(&format!("k{i}"), "v"))));
    }
    join(&mut c, 4);
    let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"mem-4") };
    step(&c, follower, add.clone());
    // A learner catches up (by snapshot: the log was compacted past 50)
    // but does not vote.
    let s = block_on(c.h(leader).status()).unwrap();
    assert_eq!(s.replica.membership.learners(), &[NodeId(4)]);
    assert_eq!(s.replica.membership.address(NodeId(4)).map(|a| &a[..]), Some(&b"mem-4"[..]));
    step(&c, follower, add); // repeating it changes nothing
    step(&c, follower, MemberStep::Promote { id: NodeId(4) });
    let s = block_on(c.h(leader).status()).unwrap();
    assert_eq!(s.replica.membership.voters(), &[NodeId(1), NodeId(2), NodeId(3), NodeId(4)]);
    assert!(!s.replica.membership.is_joint(), "answered only once the joint phase was left");

    // Replace: remove the old leader itself, then stop it for good.
    step(&c, 4, MemberStep::Remove { id: NodeId(leader) });
    block_on(c.h(leader).shutdown());
    c.handles[leader as usize - 1] = None;
    let others: Vec<u64> = (1..=4).filter(|i| *i != leader).collect();
    retry(|| block_on(c.h(4).propose(set("after", "replace"))));
    for id in &others {
        assert_eq!(value(&c, *id, "k0"), KvReply::Value(Some(Bytes::from_static(b"v"))));
        assert_eq!(value(&c, *id, "k119"), KvReply::Value(Some(Bytes::from_static(b"v"))));
        assert_eq!(value(&c, *id, "after"), KvReply::Value(Some(Bytes::from_static(b"replace"))));
    }
    let new_leader = c.leader();
    let m = block_on(c.h(new_leader).status()).unwrap().replica.membership;
    assert_eq!(m.voters().len(), 3);
    assert!(!m.contains(NodeId(leader)));
}

#[test]
fn replace_swaps_the_leader_for_a_learner_keeping_three_voters() {
    replace_the_leader(false);
}

#[test]
fn multi_paxos_replace_swaps_the_leader_for_a_learner_keeping_three_voters() {
    replace_the_leader(true);
}

fn replace_the_leader(paxos: bool) {
    let mut c = Cluster::with_protocol(3, paxos);
    let leader = c.leader();
    let follower = if leader == 1 { 2 } else { 1 };
    for i in 0..60 {
        retry(|| block_on(c.h(follower).propose(set(&format!("k{i}"), "v"))));
    }
    // Not a learner yet: refused, naming the pair.
    let early = block_on(c.h(follower).member_step(MemberStep::Replace { old: NodeId(leader), new: NodeId(4) }));
    let refused = Refusal::NotReplaceable { old: NodeId(leader), new: NodeId(4) };
    assert_eq!(early, Err(ClientError::Refused(refused)));
    join(&mut c, 4);
    step(&c, follower, MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"mem-4") });
    let replace = MemberStep::Replace { old: NodeId(leader), new: NodeId(4) };
    step(&c, follower, replace.clone());
    // Answered once the leader has the new configuration in force; the
    // old leader (not a voter of it) steps down once it commits.
    let m = block_on(c.h(leader).status()).unwrap().replica.membership;
    let want: Vec<NodeId> = (1..=4).filter(|i| *i != leader).map(NodeId).collect();
    assert_eq!(m.voters(), &want[..], "one step: the learner in, the old leader out");
    assert!(!m.is_joint() && m.learners().is_empty());
    step(&c, 4, replace); // repeating it changes nothing
    block_on(c.h(leader).shutdown());
    c.handles[leader as usize - 1] = None;
    retry(|| block_on(c.h(4).propose(set("after", "replace"))));
    for id in want.iter().map(|n| n.0) {
        assert_eq!(value(&c, id, "k59"), KvReply::Value(Some(Bytes::from_static(b"v"))));
        assert_eq!(value(&c, id, "after"), KvReply::Value(Some(Bytes::from_static(b"replace"))));
    }
}

#[test]
fn steps_the_leader_cannot_take_are_refused_with_why() {
    let c = Cluster::new(3);
    let leader = c.leader();
    let follower = if leader == 1 { 2 } else { 1 };
    let promote = block_on(c.h(follower).member_step(MemberStep::Promote { id: NodeId(9) }));
    assert_eq!(promote, Err(ClientError::Refused(Refusal::NotMember(NodeId(9)))));
    let transfer = block_on(c.h(follower).transfer_leader(NodeId(9)));
    assert_eq!(transfer, Err(ClientError::Refused(Refusal::NotVoter(NodeId(9)))));
    // Transfer asked of a follower reaches the leader.
    let target = (1..=3).find(|i| *i != leader).unwrap();
    retry(|| block_on(c.h(target).transfer_leader(NodeId(target))));
    for _ in 0..100 {
        if block_on(c.h(target).status()).unwrap().replica.role == Role::Leader {
            return;
        }
        std::thread::sleep(core::time::Duration::from_millis(20));
    }
    panic!("leadership did not move to {target}");
}

#[test]
fn a_caught_up_learner_is_promoted_by_the_leader_when_configured() {
    let mut c = Cluster::new(3);
    c.leader();
    // Restart every node with automatic promotion on.
    c.auto_promote = true;
    for id in 1..=3 {
        block_on(c.h(id).shutdown());
        c.start(id, 3);
    }
    let leader = c.leader();
    for i in 0..20 {
        retry(|| block_on(c.h(leader).propose(set(&format!("k{i}"), "v"))));
    }
    join(&mut c, 4);
    let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"mem-4") };
    step(&c, leader, add);
    for _ in 0..200 {
        let l = c.leader();
        let m = block_on(c.h(l).status()).unwrap().replica.membership;
        if m.voters().contains(&NodeId(4)) && !m.is_joint() {
            return;
        }
        std::thread::sleep(core::time::Duration::from_millis(20));
    }
    panic!("the learner was never promoted");
}

#[test]
fn a_learner_far_behind_is_not_promoted_until_it_catches_up() {
    let mut c = Cluster::new(3);
    let leader = c.leader();
    join(&mut c, 4);
    step(&c, leader, MemberStep::AddLearner { id: NodeId(4), address: Bytes::from_static(b"mem-4") });
    c.net.isolate(NodeId(4));
    for i in 0..100 {
        retry(|| block_on(c.h(leader).propose(set(&format!("k{i}"), "v"))));
    }
    let leader = c.leader();
    let promote = block_on(c.h(leader).member_step(MemberStep::Promote { id: NodeId(4) }));
    assert_eq!(promote, Err(ClientError::Refused(Refusal::NotCaughtUp(NodeId(4)))));
    c.net.heal();
    // Once it has caught up, the same step goes through.
    retry(|| match block_on(c.h(leader).member_step(MemberStep::Promote { id: NodeId(4) })) {
        Err(ClientError::Refused(Refusal::NotCaughtUp(_) | Refusal::ChangePending)) => Err(ClientError::Unavailable),
        r => r,
    });
    let m = block_on(c.h(c.leader()).status()).unwrap().replica.membership;
    assert!(m.voters().contains(&NodeId(4)));
}
