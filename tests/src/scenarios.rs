//! One scenario suite for every transport adapter: election, replication,
//! a leader crash and re-election, a peer cut off and healed, a restart of
//! the whole cluster from storage. Each adapter's test calls [`run_all`]
//! with its own [`Deploy`]; the bodies are written once.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::raft::{Config as RaftConfig, Raft};
use synod_core::replica::{MemberStep, Membership, Replica, Role};
use synod_core::service::kv::{KvCommand, KvQuery, KvReply};
use synod_core::service::{Command, Op, Query, Reply, Store};
use synod_core::time::{Duration, Instant};
use synod_net::client::{ClientError, Refusal};
use synod_net::node::{self, NodeConfig, NodeHandle};
use synod_net::runtime::Runtime;
use synod_net::store::LogStore;
use synod_net::transport::Transport;

/// A started transport and its fault switch.
pub struct Wired {
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Drops all traffic with these peers (empty: heal).
    pub block: Box<dyn Fn(Vec<NodeId>) + Send + Sync>,
}

/// What an adapter provides to the shared scenarios.
#[async_trait]
pub trait Deploy: Send + Sync {
    /// The adapter's name, for messages.
    fn name(&self) -> &'static str;
    /// The runtime nodes run on.
    fn runtime(&self) -> Arc<dyn Runtime>;
    /// Reserves a local endpoint (an ephemeral port if `port` is 0);
    /// returns its address.
    async fn reserve(&self, port: u16) -> io::Result<(Box<dyn core::any::Any + Send>, String)>;
    /// Starts node `id`'s transport on a reserved endpoint.
    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, endpoint: Box<dyn core::any::Any + Send>) -> Wired;
    /// Opens node `id`'s durable storage (the same state across restarts).
    fn store(&self, id: NodeId) -> Box<dyn LogStore>;
    /// Empties every node's storage: a new cluster starts on blank disks,
    /// never on a previous cluster's log (whose configuration would name
    /// that cluster's addresses).
    fn wipe(&self);
}

struct Member {
    addr: String,
    handle: Option<NodeHandle>,
    block: Option<Box<dyn Fn(Vec<NodeId>) + Send + Sync>>,
}

/// A running cluster under test.
pub struct TestCluster<'a> {
    deploy: &'a dyn Deploy,
    members: BTreeMap<NodeId, Member>,
    /// The founding members.
    founders: u64,
}

/// Raft for node `id` bootstrapping with `initial` (empty: a node that
/// joins later, with no configuration of its own).
fn raft(id: NodeId, initial: Membership) -> node::ReplicaFactory {
    Box::new(move |now: Instant, recovered| {
        let mut cfg = RaftConfig::new(id, id.0 * 977);
        cfg.election_timeout = Duration::from_millis(300);
        cfg.heartbeat_interval = Duration::from_millis(50);
        let r = Raft::new(cfg, now, recovered, initial.clone()).map_err(|e| e.to_string())?;
        Ok(Box::new(r) as Box<dyn Replica + Send>)
    })
}

impl<'a> TestCluster<'a> {
    /// Starts `n` nodes on fresh endpoints.
    pub async fn start(deploy: &'a dyn Deploy, n: u64) -> io::Result<TestCluster<'a>> {
        deploy.wipe();
        let mut endpoints = BTreeMap::new();
        let mut members = BTreeMap::new();
        for i in 1..=n {
            let (ep, addr) = deploy.reserve(0).await?;
            endpoints.insert(NodeId(i), ep);
            members.insert(NodeId(i), Member { addr, handle: None, block: None });
        }
        let mut c = TestCluster { deploy, members, founders: n };
        for (id, ep) in endpoints {
            c.launch(id, ep).await;
        }
        Ok(c)
    }

    fn peers(&self, id: NodeId) -> BTreeMap<NodeId, String> {
        self.members.iter().filter(|(p, _)| **p != id).map(|(p, m)| (*p, m.addr.clone())).collect()
    }

    async fn launch(&mut self, id: NodeId, ep: Box<dyn core::any::Any + Send>) {
        let peers = self.peers(id);
        self.launch_knowing(id, ep, peers).await;
    }

    async fn launch_knowing(
        &mut self,
        id: NodeId,
        ep: Box<dyn core::any::Any + Send>,
        peers: BTreeMap<NodeId, String>,
    ) {
        // Founders bootstrap with every founder's address, as `synod node`
        // does from `--members`: the configuration carries them.
        let initial = if id.0 <= self.founders {
            let founders = (1..=self.founders).map(NodeId);
            let addrs = founders.clone().filter_map(|f| Some((f, Bytes::from(self.members.get(&f)?.addr.clone()))));
            Membership::voters_only(founders).and_then(|m| m.with_addresses(addrs)).expect("a valid configuration")
        } else {
            Membership::default()
        };
        let wired = self.deploy.wire(id, peers.clone(), ep);
        let mut cfg = NodeConfig::new(id);
        // The transport follows the configuration; these addresses serve
        // until the node has one.
        cfg.peers = Some(peers);
        cfg.request_timeout = Duration::from_secs(3);
        cfg.snapshot_every = 40;
        cfg.service_tick = Some(node::ServiceTick {
            every: Duration::from_millis(100),
            command: Arc::new(|t: node::TickTime| Store::clock_tick(t.term.0, t.elapsed)),
        });
        let handle = node::start(
            cfg,
            self.deploy.store(id),
            raft(id, initial),
            Box::new(Store::default()),
            wired.transport,
            self.deploy.runtime(),
        )
        .await
        .expect("node starts from its storage");
        let m = self.members.get_mut(&id).expect("member");
        m.handle = Some(handle);
        m.block = Some(wired.block);
    }

    /// Starts node `id` on a fresh endpoint with no configuration: it
    /// waits to be added, and knows the current members' addresses.
    /// Returns its address.
    pub async fn join(&mut self, id: NodeId) -> String {
        let (ep, addr) = self.deploy.reserve(0).await.expect("an endpoint");
        self.members.insert(id, Member { addr: addr.clone(), handle: None, block: None });
        self.launch(id, ep).await;
        addr
    }

    /// Starts node `id` like [`TestCluster::join`], knowing the address
    /// of member `named` only. Returns its address.
    pub async fn join_naming(&mut self, id: NodeId, named: NodeId) -> String {
        let (ep, addr) = self.deploy.reserve(0).await.expect("an endpoint");
        let peers: BTreeMap<NodeId, String> = [(named, self.members[&named].addr.clone())].into();
        self.members.insert(id, Member { addr: addr.clone(), handle: None, block: None });
        self.launch_knowing(id, ep, peers).await;
        addr
    }

    /// Takes a membership step through `via`, retrying across leader
    /// changes and while a previous change is being finished.
    pub async fn member_step(&self, via: NodeId, step: MemberStep) {
        for _ in 0..200 {
            match self.handle(via).member_step(step.clone()).await {
                Ok(()) => return,
                Err(
                    ClientError::NotLeader { .. }
                    | ClientError::Unavailable
                    | ClientError::Timeout
                    | ClientError::LeaderChanged { .. }
                    | ClientError::Refused(Refusal::ChangePending | Refusal::NotCaughtUp(_)),
                ) => self.sleep(50).await,
                Err(e) => panic!("{}: {step:?} failed: {e}", self.deploy.name()),
            }
        }
        panic!("{}: {step:?} through {via} never succeeded", self.deploy.name());
    }

    /// Forgets node `id` (after removing it from the configuration).
    pub fn forget(&mut self, id: NodeId) {
        self.members.remove(&id);
    }

    /// Stops node `id` (its storage keeps what it made durable).
    pub async fn stop(&mut self, id: NodeId) {
        if let Some(h) = self.members.get_mut(&id).and_then(|m| m.handle.take()) {
            h.shutdown().await;
        }
    }

    /// Restarts node `id` on its old address and storage.
    pub async fn restart(&mut self, id: NodeId) {
        let port: u16 = self.members[&id].addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        // The old listener is released asynchronously; retry briefly.
        let mut last = None;
        for _ in 0..100 {
            match self.deploy.reserve(port).await {
                Ok((ep, _)) => {
                    self.launch(id, ep).await;
                    return;
                }
                Err(e) => last = Some(e),
            }
            self.sleep(50).await;
        }
        panic!("cannot rebind {}: {last:?}", self.members[&id].addr);
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&self, id: NodeId) {
        for (p, m) in &self.members {
            if let Some(b) = &m.block {
                if *p == id {
                    b(self.members.keys().filter(|x| **x != id).copied().collect());
                } else {
                    b(vec![id]);
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        for m in self.members.values() {
            if let Some(b) = &m.block {
                b(Vec::new());
            }
        }
    }

    async fn sleep(&self, ms: u64) {
        let rt = self.deploy.runtime();
        rt.sleep_until(rt.now() + Duration::from_millis(ms)).await;
    }

    /// The handle of running node `id`.
    pub fn handle(&self, id: NodeId) -> &NodeHandle {
        self.members[&id].handle.as_ref().expect("node running")
    }

    /// Waits (generously) until exactly one running node leads.
    pub async fn leader(&self) -> NodeId {
        for _ in 0..300 {
            let mut leaders = Vec::new();
            for (id, m) in &self.members {
                if let Some(h) = &m.handle
                    && let Ok(s) = h.status().await
                    && s.replica.role == Role::Leader
                {
                    leaders.push(*id);
                }
            }
            if let [one] = leaders[..] {
                return one;
            }
            self.sleep(50).await;
        }
        panic!("{}: no single leader emerged", self.deploy.name());
    }

    /// Proposes through `via` until it succeeds (retrying across leader changes).
    pub async fn write(&self, via: NodeId, key: &str, value: &str) {
        let cmd = Command::new(Op::Kv {
            cmd: KvCommand::Set {
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: Bytes::copy_from_slice(value.as_bytes()),
            },
            lease: None,
        });
        for _ in 0..200 {
            match self.handle(via).propose(cmd.encode()).await {
                Ok(r) => {
                    assert_eq!(Reply::decode(r).expect("reply"), Reply::Kv(KvReply::Ok));
                    return;
                }
                Err(
                    ClientError::NotLeader { .. }
                    | ClientError::Unavailable
                    | ClientError::Lost
                    | ClientError::Timeout
                    | ClientError::LeaderChanged { .. },
                ) => self.sleep(50).await,
                Err(e) => panic!("{}: write failed: {e}", self.deploy.name()),
            }
        }
        panic!("{}: write through {via} never succeeded", self.deploy.name());
    }

    /// Reads through `via` (linearizably), retrying across leader changes.
    pub async fn read(&self, via: NodeId, key: &str) -> Option<Bytes> {
        let q = Query::Kv(KvQuery::Get { key: Bytes::copy_from_slice(key.as_bytes()) }).encode();
        for _ in 0..200 {
            match self.handle(via).query(q.clone()).await {
                Ok(r) => match Reply::decode(r).expect("reply") {
                    Reply::Kv(KvReply::Value(v)) => return v,
                    other => panic!("unexpected reply {other:?}"),
                },
                Err(ClientError::NotLeader { .. } | ClientError::Unavailable | ClientError::Timeout) => {
                    self.sleep(50).await
                }
                Err(e) => panic!("{}: read failed: {e}", self.deploy.name()),
            }
        }
        panic!("{}: read through {via} never succeeded", self.deploy.name());
    }

    /// Stops everything.
    pub async fn shutdown(mut self) {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

fn v(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

/// Election and replication: writes through every node are read back
/// through every node.
pub async fn election_and_replication(d: &dyn Deploy) {
    let c = TestCluster::start(d, 3).await.expect("cluster starts");
    c.leader().await;
    for i in 1..=3u64 {
        c.write(NodeId(i), &format!("k{i}"), &format!("v{i}")).await;
    }
    for via in 1..=3u64 {
        for i in 1..=3u64 {
            assert_eq!(c.read(NodeId(via), &format!("k{i}")).await, v(&format!("v{i}")), "{} via {via}", d.name());
        }
    }
    c.shutdown().await;
}

/// The leader crashes: a new one is elected, no acknowledged write is
/// lost, and the old leader catches up when it returns.
pub async fn leader_crash_and_reelection(d: &dyn Deploy) {
    let mut c = TestCluster::start(d, 3).await.expect("cluster starts");
    for i in 0..20 {
        c.write(NodeId(1 + i % 3), &format!("a{i}"), "x").await;
    }
    let old = c.leader().await;
    c.stop(old).await;
    let other = if old == NodeId(1) { NodeId(2) } else { NodeId(1) };
    c.write(other, "after", "crash").await;
    let new = c.leader().await;
    assert_ne!(new, old, "{}", d.name());
    c.restart(old).await;
    for i in 0..20 {
        assert_eq!(c.read(old, &format!("a{i}")).await, v("x"), "{}", d.name());
    }
    assert_eq!(c.read(old, "after").await, v("crash"), "{}", d.name());
    c.shutdown().await;
}

/// The leader is cut off: the majority elects another and keeps going;
/// after healing, the old leader follows and has every write.
pub async fn partitioned_leader_heals(d: &dyn Deploy) {
    let c = TestCluster::start(d, 3).await.expect("cluster starts");
    c.write(NodeId(1), "before", "1").await;
    let old = c.leader().await;
    c.isolate(old);
    let other = if old == NodeId(1) { NodeId(2) } else { NodeId(1) };
    c.write(other, "during", "2").await;
    c.heal();
    assert_eq!(c.read(old, "during").await, v("2"), "{}", d.name());
    assert_eq!(c.read(old, "before").await, v("1"), "{}", d.name());
    c.shutdown().await;
}

/// Every node stops and starts again from storage: nothing acknowledged
/// is lost.
pub async fn restart_from_storage(d: &dyn Deploy) {
    let mut c = TestCluster::start(d, 3).await.expect("cluster starts");
    for i in 0..60 {
        c.write(NodeId(1 + i % 3), &format!("d{i}"), &i.to_string()).await;
    }
    for id in 1..=3 {
        c.stop(NodeId(id)).await;
    }
    for id in 1..=3 {
        c.restart(NodeId(id)).await;
    }
    for i in 0..60 {
        assert_eq!(c.read(NodeId(1 + (i + 1) % 3), &format!("d{i}")).await, v(&i.to_string()), "{}", d.name());
    }
    c.shutdown().await;
}

/// The replace path over real connections: a fresh node joins as a
/// learner, is promoted, and the old leader is removed and stopped for
/// good; the peers' connections follow each configuration (the fourth
/// node is dialed only once the configuration names its address). The
/// fresh node is told of one follower only: it must find the leader
/// itself.
pub async fn replace_a_member(d: &dyn Deploy) {
    let mut c = TestCluster::start(d, 3).await.expect("cluster starts");
    for i in 0..50 {
        c.write(NodeId(1 + i % 3), &format!("r{i}"), "x").await;
    }
    let via = NodeId(if c.leader().await == NodeId(2) { 3 } else { 2 });
    let addr = c.join_naming(NodeId(4), via).await;
    let add = MemberStep::AddLearner { id: NodeId(4), address: Bytes::from(addr) };
    c.member_step(via, add).await;
    c.member_step(via, MemberStep::Promote { id: NodeId(4) }).await;
    let old = c.leader().await;
    c.member_step(NodeId(4), MemberStep::Remove { id: old }).await;
    c.stop(old).await;
    c.forget(old);
    c.write(NodeId(4), "after", "replace").await;
    for id in c.members.keys().copied().collect::<Vec<_>>() {
        for i in 0..50 {
            assert_eq!(c.read(id, &format!("r{i}")).await, v("x"), "{} via {id}", d.name());
        }
        assert_eq!(c.read(id, "after").await, v("replace"), "{} via {id}", d.name());
    }
    let leader = c.leader().await;
    let m = c.handle(leader).status().await.expect("status").replica.membership;
    assert_eq!(m.voters().len(), 3, "{}", d.name());
    assert!(!m.contains(old), "{}", d.name());
    c.shutdown().await;
}

/// Every scenario, in order.
pub async fn run_all(d: &dyn Deploy) {
    election_and_replication(d).await;
    leader_crash_and_reelection(d).await;
    partitioned_leader_heals(d).await;
    restart_from_storage(d).await;
}
