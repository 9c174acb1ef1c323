//! The subcommands.

use crate::args::{CertsArgs, ClusterArgs, Common, NodeArgs, NodeFile, StatusArgs, TransportKind};
use crate::assemble::{self, PeerEndpoint, Running, Settings, Spec};
use crate::rt::Rt;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::signal::Signal;
use synod_quic::certs::{self, Ca, NodeCert};

type Error = String;

/// Fires on Ctrl-C (or SIGTERM).
fn interrupt() -> Result<Signal, Error> {
    let s = Signal::new();
    let f = s.clone();
    ctrlc::set_handler(move || f.fire()).map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(s)
}

async fn shutdown(nodes: &[Running]) {
    for n in nodes {
        n.handle.shutdown().await;
    }
}

fn start_metrics(common: &Common, rt: &Rt, nodes: &[Running], settings: &Settings) -> Result<(), Error> {
    if let Some(addr) = common.metrics {
        let handles = nodes.iter().map(|n| n.handle.clone()).collect();
        crate::metrics::serve(addr, handles, settings.policy.slots.clone(), rt.runtime())
            .map_err(|e| format!("metrics on {addr}: {e}"))?;
        eprintln!("metrics: http://{addr}/metrics");
    }
    Ok(())
}

/// `synod cluster`: N nodes in one process.
pub fn cluster(a: ClusterArgs) -> Result<(), Error> {
    if a.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let stop = interrupt()?;
    let settings = Settings::resolve(&a.common.server, a.nodes as usize, a.nodes as usize - 1)?;
    let rt = Rt::start(a.common.runtime, 2).map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        let mut peer_endpoints = BTreeMap::new();
        let node_certs = match a.common.transport {
            TransportKind::Quic => Some(cluster_certs(&a.data_dir.join("certs"), &a.cluster_id, a.nodes)?),
            TransportKind::Tcp => None,
        };
        let mut resp_listeners = BTreeMap::new();
        let mut members = BTreeMap::new();
        let mut directory = BTreeMap::new();
        for i in 1..=a.nodes {
            let id = NodeId(i);
            let (endpoint, paddr) = match &node_certs {
                None => {
                    let (pl, paddr) = rt.bind("127.0.0.1:0").await.map_err(|e| format!("binding a peer port: {e}"))?;
                    (PeerEndpoint::Tcp(pl), paddr)
                }
                Some(certs) => {
                    let sock =
                        std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("binding a UDP port: {e}"))?;
                    let paddr = sock.local_addr().map_err(|e| e.to_string())?;
                    let cert = certs.get(&id).cloned().ok_or("missing node certificate")?;
                    (PeerEndpoint::Quic(sock, Box::new(cert)), paddr)
                }
            };
            let port = a.resp_port.checked_add((i - 1) as u16).ok_or("RESP port out of range")?;
            let resp = format!("127.0.0.1:{port}");
            let (rl, raddr) = rt.bind(&resp).await.map_err(|e| format!("binding RESP on {resp}: {e}"))?;
            members.insert(id, paddr.to_string());
            directory.insert(id, raddr);
            peer_endpoints.insert(id, endpoint);
            resp_listeners.insert(id, (rl, raddr));
        }
        let directory = Arc::new(directory);
        let mut nodes = Vec::new();
        for i in 1..=a.nodes {
            let id = NodeId(i);
            let spec = Spec {
                id,
                cluster_id: a.cluster_id.clone(),
                members: members.clone(),
                peer: peer_endpoints.remove(&id).ok_or("endpoint")?,
                resp_listener: resp_listeners.remove(&id).ok_or("listener")?,
                data_dir: a.data_dir.join(format!("node-{i}")),
                protocol: a.common.protocol,
                directory: directory.clone(),
                settings: settings.clone(),
            };
            nodes.push(assemble::start(&rt, spec).await.map_err(|e| format!("node {i}: {e}"))?);
        }
        println!(
            "synod: {} nodes ({:?} over {:?} on {:?}), data in {}",
            a.nodes,
            a.common.protocol,
            a.common.transport,
            a.common.runtime,
            a.data_dir.display()
        );
        for n in &nodes {
            println!("  node {}: RESP on {}   (redis-cli -p {})", n.id, n.resp, n.resp.port());
        }
        println!("Ctrl-C stops the cluster; restarting on the same --data-dir recovers it.");
        start_metrics(&a.common, &rt, &nodes, &settings)?;
        stop.wait().await;
        eprintln!("synod: shutting down");
        shutdown(&nodes).await;
        Ok(())
    })
}

fn parse_members(list: &[String]) -> Result<BTreeMap<NodeId, String>, Error> {
    let mut m = BTreeMap::new();
    for item in list {
        let (id, addr) = item.split_once('=').ok_or_else(|| format!("member {item:?} is not ID=HOST:PORT"))?;
        let id: u64 = id.trim().parse().map_err(|_| format!("member id {id:?} is not a number"))?;
        m.insert(NodeId(id), addr.trim().to_string());
    }
    Ok(m)
}

/// `synod node`: one node of a multi-machine cluster.
pub fn node(a: NodeArgs) -> Result<(), Error> {
    let file: NodeFile = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => NodeFile::default(),
    };
    let id = NodeId(a.id.or(file.id).ok_or("--id (or `id` in the config file) is required")?);
    let cluster_id = a.cluster_id.clone().or(file.cluster_id.clone()).unwrap_or_else(|| "synod".into());
    let mut members = parse_members(&a.members)?;
    if members.is_empty() {
        let list: Vec<String> = file.members.iter().map(|(k, v)| format!("{k}={v}")).collect();
        members = parse_members(&list)?;
    }
    let own = members.get(&id).cloned().ok_or_else(|| format!("node {id} is not among --members"))?;
    let resp: SocketAddr = a.resp.or(file.resp).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 6379)));
    let data_dir: PathBuf =
        a.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(format!("synod-node-{id}")));
    let common = Common {
        protocol: file.protocol.unwrap_or(a.common.protocol),
        transport: file.transport.unwrap_or(a.common.transport),
        runtime: file.runtime.unwrap_or(a.common.runtime),
        metrics: a.common.metrics.or(file.metrics),
        server: a.common.server.clone().over(file.server.clone()),
    };
    let settings = Settings::resolve(&common.server, 1, members.len().saturating_sub(1))?;
    settings.check_exposure(resp)?;
    let certs_dir = a.certs.clone().or(file.certs.clone());
    let stop = interrupt()?;
    let rt = Rt::start(common.runtime, 2).map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        let peer = match common.transport {
            TransportKind::Tcp => {
                let (pl, _) = rt.bind(&own).await.map_err(|e| format!("binding peer address {own}: {e}"))?;
                PeerEndpoint::Tcp(pl)
            }
            TransportKind::Quic => {
                let dir = certs_dir.as_ref().ok_or("--certs DIR is required with --transport quic")?;
                let cert = NodeCert::load(dir, id).map_err(|e| e.to_string())?;
                let sock = std::net::UdpSocket::bind(&own).map_err(|e| format!("binding UDP {own}: {e}"))?;
                PeerEndpoint::Quic(sock, Box::new(cert))
            }
        };
        let (rl, raddr) = rt.bind(&resp.to_string()).await.map_err(|e| format!("binding RESP on {resp}: {e}"))?;
        let spec = Spec {
            id,
            cluster_id,
            members,
            peer,
            resp_listener: (rl, raddr),
            data_dir,
            protocol: common.protocol,
            directory: Arc::new(BTreeMap::from([(id, raddr)])),
            settings: settings.clone(),
        };
        let n = assemble::start(&rt, spec).await.map_err(|e| format!("node {id}: {e}"))?;
        println!("synod: node {id} serving RESP on {}", n.resp);
        let nodes = [n];
        start_metrics(&common, &rt, &nodes, &settings)?;
        // A node that stopped on a fatal error takes the process down with
        // it, non-zero, so a supervisor restarts it.
        let stopped = nodes[0].handle.stopped();
        if let futures::future::Either::Right(_) = futures::future::select(stop.wait(), stopped).await
            && let Some(why) = nodes[0].handle.failure()
        {
            return Err(format!("node {id} stopped: {why}"));
        }
        eprintln!("synod: shutting down");
        shutdown(&nodes).await;
        Ok(())
    })
}

/// `synod status`.
pub fn status(a: StatusArgs) -> Result<(), Error> {
    let auth = a.password.as_deref().map(|p| (a.user.as_deref(), p));
    let v = crate::status::fetch_as(&a.addr, auth, core::time::Duration::from_secs(10))?;
    if a.json {
        println!("{v}");
    } else {
        print!("{}", crate::status::table(&v));
    }
    Ok(())
}

/// The local cluster's certificates: loaded from `dir`, or created there
/// on the first QUIC start.
fn cluster_certs(dir: &Path, cluster_id: &str, nodes: u64) -> Result<BTreeMap<NodeId, NodeCert>, Error> {
    if !dir.join("ca.pem").exists() {
        let ca = certs::new_cluster_ca(cluster_id).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        ca.write_pem(dir).map_err(|e| e.to_string())?;
        for i in 1..=nodes {
            ca.issue_node(NodeId(i)).and_then(|c| c.write_pem(dir)).map_err(|e| e.to_string())?;
        }
    }
    let ca = Ca::load(dir).map_err(|e| e.to_string())?;
    if ca.cluster_id() != cluster_id {
        return Err(format!(
            "{} holds certificates of cluster {:?}, not {cluster_id:?}",
            dir.display(),
            ca.cluster_id()
        ));
    }
    (1..=nodes).map(|i| NodeCert::load(dir, NodeId(i)).map(|c| (NodeId(i), c)).map_err(|e| e.to_string())).collect()
}

/// `synod certs`: a new cluster CA and certificates for its nodes.
pub fn certs(a: CertsArgs) -> Result<(), Error> {
    let ca = certs::new_cluster_ca(&a.cluster_id).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    ca.write_pem(&a.out).map_err(|e| e.to_string())?;
    for id in &a.nodes {
        ca.issue_node(NodeId(*id)).and_then(|c| c.write_pem(&a.out)).map_err(|e| e.to_string())?;
    }
    println!(
        "synod: CA for cluster {:?} and certificates for nodes {:?} written to {}",
        a.cluster_id,
        a.nodes,
        a.out.display()
    );
    println!("keep ca.key offline; each node needs ca.pem and its node-<id>.pem and node-<id>.key");
    Ok(())
}
