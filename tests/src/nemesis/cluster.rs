//! Real `synod node` processes on loopback, wired through the harness's
//! proxies, started, killed, paused and resumed by pid.

use super::proxy::{self, Link};
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What the cluster runs.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The `synod` binary.
    pub binary: PathBuf,
    /// Working directory (data, certificates, logs).
    pub dir: PathBuf,
    /// Number of nodes.
    pub nodes: u64,
    /// `raft` or `multi-paxos`.
    pub protocol: String,
    /// `tcp` or `quic`.
    pub transport: String,
    /// Ids past `nodes` that membership steps may start and add (0: the
    /// membership stays fixed). With spares, every node is reached through
    /// one proxy in front of it rather than one per pair: the configuration
    /// carries one address per member, the same for every node (TCP only).
    pub spares: u64,
}

struct Member {
    peer_addr: SocketAddr,
    resp_addr: SocketAddr,
    child: Option<Child>,
    paused: bool,
    /// Started at least once: heal restarts it.
    started: bool,
    /// Removed from the cluster (or lost for good): never started again.
    retired: bool,
}

/// A running cluster. Dropping it kills every process it started.
pub struct Cluster {
    setup: Setup,
    members: BTreeMap<u64, Member>,
    /// Directed links (from, to).
    links: BTreeMap<(u64, u64), Link>,
    /// Each node's view of its peers' addresses (through the proxies).
    views: BTreeMap<u64, String>,
    /// With spares: the proxy in front of each node, its switch and the
    /// address every peer dials (the one the configuration carries).
    inbound: BTreeMap<u64, (Link, SocketAddr)>,
    /// A membership step took effect: `--members` may no longer be the
    /// configuration a node's log holds.
    changed: bool,
}

/// Free loopback ports, held bound until every node has its own: a port
/// released at once can be handed out again by the next `bind(0)`, and
/// two nodes given one port left one of them unable to start (CI saw a
/// node fail to bind for the whole run).
#[derive(Default)]
struct Ports {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

impl Ports {
    fn tcp(&mut self) -> std::io::Result<SocketAddr> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let addr = l.local_addr()?;
        self.tcp.push(l);
        Ok(addr)
    }

    fn udp(&mut self) -> std::io::Result<SocketAddr> {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        let addr = s.local_addr()?;
        self.udp.push(s);
        Ok(addr)
    }
}

impl Cluster {
    /// Prepares ports, proxies and (for QUIC) certificates; starts nothing.
    pub fn new(setup: Setup) -> Result<Cluster, String> {
        std::fs::create_dir_all(&setup.dir).map_err(|e| format!("{}: {e}", setup.dir.display()))?;
        let quic = setup.transport == "quic";
        if setup.spares > 0 && quic {
            return Err("membership changes run over TCP only (the UDP proxy answers one sender)".into());
        }
        let total = setup.nodes + setup.spares;
        let mut members = BTreeMap::new();
        let mut ports = Ports::default();
        for i in 1..=total {
            let peer_addr = if quic { ports.udp() } else { ports.tcp() }.map_err(|e| e.to_string())?;
            let resp_addr = ports.tcp().map_err(|e| e.to_string())?;
            let m = Member { peer_addr, resp_addr, child: None, paused: false, started: false, retired: false };
            members.insert(i, m);
        }
        let mut links = BTreeMap::new();
        let mut views = BTreeMap::new();
        let mut inbound = BTreeMap::new();
        if setup.spares > 0 {
            for i in 1..=total {
                let link = Link::default();
                let via = proxy::tcp(members[&i].peer_addr, link.clone()).map_err(|e| format!("proxy to {i}: {e}"))?;
                inbound.insert(i, (link, via));
            }
            // Founders name the founders (a joining node names the members
            // of the moment: see `start`).
            let founders: Vec<String> = (1..=setup.nodes).map(|j| format!("{j}={}", inbound[&j].1)).collect();
            for i in 1..=setup.nodes {
                views.insert(i, founders.join(","));
            }
        }
        for i in (1..=setup.nodes).filter(|_| setup.spares == 0) {
            let mut view = Vec::new();
            for j in 1..=setup.nodes {
                if i == j {
                    view.push(format!("{i}={}", members[&i].peer_addr));
                    continue;
                }
                let link = Link::default();
                let target = members[&j].peer_addr;
                let via = if quic { proxy::udp(target, link.clone()) } else { proxy::tcp(target, link.clone()) }
                    .map_err(|e| format!("proxy {i}->{j}: {e}"))?;
                links.insert((i, j), link);
                view.push(format!("{j}={via}"));
            }
            views.insert(i, view.join(","));
        }
        // Released only now, so no proxy was handed a node's port either.
        drop(ports);
        // Every transport but tcp-insecure authenticates peers with
        // certificates of one cluster CA.
        if setup.transport != "tcp-insecure" {
            let ids: Vec<String> = (1..=total).map(|i| i.to_string()).collect();
            let certs = setup.dir.join("certs");
            if !certs.join("ca.pem").exists() {
                let status = Command::new(&setup.binary)
                    .args(["certs", "--cluster-id", "nemesis", "--nodes", &ids.join(","), "--out"])
                    .arg(&certs)
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| format!("synod certs: {e}"))?;
                if !status.success() {
                    return Err("synod certs failed".into());
                }
            }
        }
        Ok(Cluster { setup, members, links, views, inbound, changed: false })
    }

    /// Starts (or restarts) node `i` on its data directory.
    pub fn start(&mut self, i: u64) -> Result<(), String> {
        // A node that joins (a spare, or any node once the membership
        // changed) names one current member besides itself, often not the
        // leader: it must find the others (the leader among them) itself.
        let joins = self.setup.spares > 0 && (i > self.setup.nodes || self.changed);
        let view = if joins {
            let others: Vec<u64> = self.members().into_iter().filter(|j| *j != i).collect();
            let named = others.get(i as usize % others.len().max(1)).copied();
            let ids = named.into_iter().chain([i]).collect::<std::collections::BTreeSet<u64>>();
            ids.iter().filter_map(|j| Some(format!("{j}={}", self.inbound.get(j)?.1))).collect::<Vec<_>>().join(",")
        } else {
            self.views[&i].clone()
        };
        let s = &self.setup;
        let m = self.members.get_mut(&i).ok_or("no such node")?;
        if m.child.is_some() || m.retired {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.dir.join(format!("node-{i}.log")))
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&s.binary);
        cmd.args(["node", "--id", &i.to_string(), "--cluster-id", "nemesis", "--members", &view])
            .args(["--resp", &m.resp_addr.to_string(), "--protocol", &s.protocol, "--transport", &s.transport])
            .arg("--data-dir")
            .arg(s.dir.join(format!("node-{i}")))
            // SYNOD_NODE_LOG sets the nodes' RUST_LOG (e.g. `synod_net=debug`).
            .env("RUST_LOG", std::env::var("SYNOD_NODE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if s.transport != "tcp-insecure" {
            cmd.arg("--certs").arg(s.dir.join("certs"));
        }
        if s.spares > 0 {
            // Peers dial the proxy in front of this node (the address its
            // configuration carries); the node listens behind it.
            cmd.args(["--listen-peers", &m.peer_addr.to_string()]);
            // A spare joins. Once the membership changed, a node restarts
            // on its log's configuration, which may be from before a
            // change it missed: `--join` lets its log decide, where naming
            // members that differ from it is refused.
            if joins {
                cmd.arg("--join");
            }
        }
        m.child = Some(cmd.spawn().map_err(|e| format!("starting node {i}: {e}"))?);
        m.paused = false;
        m.started = true;
        Ok(())
    }

    /// Stops node `i` for good (kill -9): it was removed, or its machine
    /// is lost. Heal no longer restarts it.
    pub fn retire(&mut self, i: u64) {
        self.kill(i);
        if let Some(m) = self.members.get_mut(&i) {
            m.retired = true;
        }
    }

    /// Notes that a membership step took effect.
    pub fn membership_changed(&mut self) {
        self.changed = true;
    }

    /// The address peers dial for node `i` (with spares: its proxy).
    pub fn peer_address(&self, i: u64) -> Option<SocketAddr> {
        self.inbound.get(&i).map(|(_, a)| *a)
    }

    /// Every id, founders and spares.
    pub fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    /// Ids of nodes started at least once and not retired.
    pub fn members(&self) -> Vec<u64> {
        self.members.iter().filter(|(_, m)| m.started && !m.retired).map(|(i, _)| *i).collect()
    }

    /// Ids never started yet (spares a membership step may add).
    pub fn unstarted(&self) -> Vec<u64> {
        self.members.iter().filter(|(_, m)| !m.started && !m.retired).map(|(i, _)| *i).collect()
    }

    /// With spares: cuts (or restores) everything sent to node `i`, from
    /// every peer; it can still send. Without: as [`Cluster::isolate`].
    pub fn deafen(&self, i: u64, cut: bool) {
        match self.inbound.get(&i) {
            Some((link, _)) => link.set_cut(cut),
            None if cut => self.isolate(i),
            None => {}
        }
    }

    /// Nodes that exited by themselves since the last call, with their exit
    /// status: a correct node never does (the harness restarts it).
    pub fn reap(&mut self) -> Vec<(u64, String)> {
        let mut gone = Vec::new();
        for (i, m) in &mut self.members {
            if let Some(c) = &mut m.child
                && let Ok(Some(status)) = c.try_wait()
            {
                gone.push((*i, status.to_string()));
                m.child = None;
                m.paused = false;
            }
        }
        gone
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: u64) {
        if let Some(m) = self.members.get_mut(&i)
            && let Some(mut c) = m.child.take()
        {
            let _ = c.kill();
            let _ = c.wait();
            m.paused = false;
        }
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) node `i`.
    pub fn pause(&mut self, i: u64, pause: bool) {
        if let Some(m) = self.members.get_mut(&i)
            && let Some(c) = &m.child
        {
            let sig = if pause { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
            m.paused = pause;
        }
    }

    /// Cuts or restores the directed link from `a` to `b`.
    pub fn cut(&self, a: u64, b: u64, cut: bool) {
        if let Some(l) = self.links.get(&(a, b)) {
            l.set_cut(cut);
        }
    }

    /// Cuts `i` off from everyone, both ways.
    pub fn isolate(&self, i: u64) {
        for j in 1..=self.setup.nodes {
            if j != i {
                self.cut(i, j, true);
                self.cut(j, i, true);
            }
        }
    }

    /// Restores every link, resumes every paused node, restarts every
    /// stopped one.
    pub fn heal(&mut self) -> Result<(), String> {
        for l in self.links.values().chain(self.inbound.values().map(|(l, _)| l)) {
            l.set_cut(false);
        }
        for i in self.members() {
            if self.members[&i].paused {
                self.pause(i, false);
            }
            self.start(i)?;
        }
        Ok(())
    }

    /// Node `i`'s process id, while it runs.
    pub fn pid(&self, i: u64) -> Option<u32> {
        self.members.get(&i)?.child.as_ref().map(Child::id)
    }

    /// Node `i`'s RESP address.
    pub fn resp(&self, i: u64) -> SocketAddr {
        self.members[&i].resp_addr
    }

    /// Number of nodes.
    pub fn len(&self) -> u64 {
        self.setup.nodes
    }

    /// True if the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.setup.nodes == 0
    }

    /// Nodes currently running and not paused.
    pub fn live(&self) -> Vec<u64> {
        self.members.iter().filter(|(_, m)| m.child.is_some() && !m.paused).map(|(i, _)| *i).collect()
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        &self.setup.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in self.members.values_mut() {
            if let Some(mut c) = m.child.take() {
                // A stopped process must be resumed to die promptly.
                let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
