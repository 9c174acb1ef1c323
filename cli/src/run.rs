//! The subcommands.

use crate::args::{
    CertsAction, CertsArgs, ClusterArgs, Common, NodeArgs, NodeFile, RenewArgs, StatusArgs, TransportKind,
};
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
        crate::metrics::serve(
            addr,
            handles,
            settings.policy.slots.clone(),
            &settings.policy.stats,
            &settings.syncs,
            rt.runtime(),
            settings.tuning.election_timeout(),
        )
        .map_err(|e| format!("metrics on {addr}: {e}"))?;
        eprintln!("metrics: http://{addr}/metrics, health: http://{addr}/health and /ready");
    }
    Ok(())
}

/// `synod cluster`: N nodes in one process.
pub fn cluster(a: ClusterArgs) -> Result<(), Error> {
    if a.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let stop = interrupt()?;
    let settings = Settings::resolve(&a.common.server, &a.common.tuning, a.nodes as usize, a.nodes as usize - 1)?;
    log_seed(&settings);
    let rt = Rt::start(a.common.runtime(), settings.tuning.worker_threads)
        .map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        let mut peer_endpoints = BTreeMap::new();
        // Authenticated transports get a cluster CA and node certificates,
        // made on the first start and kept beside the nodes' data.
        let node_certs = match a.common.transport().authenticated() {
            true => Some(cluster_certs(&a.data_dir.join("certs"), &a.cluster_id, a.nodes)?),
            false => None,
        };
        let mut resp_listeners = BTreeMap::new();
        let mut members = BTreeMap::new();
        let mut directory = BTreeMap::new();
        for i in 1..=a.nodes {
            let id = NodeId(i);
            let cert = || {
                node_certs.as_ref().and_then(|c| c.get(&id)).cloned().map(Box::new).ok_or("missing node certificate")
            };
            let (endpoint, paddr) = match a.common.transport() {
                TransportKind::Tcp | TransportKind::TcpInsecure => {
                    let (pl, paddr) = rt.bind("127.0.0.1:0").await.map_err(|e| format!("binding a peer port: {e}"))?;
                    match a.common.transport() {
                        TransportKind::Tcp => (PeerEndpoint::Tcp(pl, cert()?), paddr),
                        _ => (PeerEndpoint::TcpInsecure(pl), paddr),
                    }
                }
                TransportKind::Quic => {
                    let sock =
                        std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("binding a UDP port: {e}"))?;
                    let paddr = sock.local_addr().map_err(|e| e.to_string())?;
                    (PeerEndpoint::Quic(sock, cert()?), paddr)
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
                join: false,
                auto_promote: false,
                peer: peer_endpoints.remove(&id).ok_or("endpoint")?,
                resp_listener: resp_listeners.remove(&id).ok_or("listener")?,
                data_dir: a.data_dir.join(format!("node-{i}")),
                protocol: a.common.protocol(),
                directory: directory.clone(),
                settings: settings.clone(),
            };
            nodes.push(assemble::start(&rt, spec).await.map_err(|e| format!("node {i}: {e}"))?);
        }
        println!(
            "synod: {} nodes ({:?} over {:?} on {:?}), data in {}",
            a.nodes,
            a.common.protocol(),
            a.common.transport(),
            a.common.runtime(),
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
    let listen_peers = a.listen_peers.or(file.listen_peers);
    // Peers dial `own`; this node accepts them here.
    let bind = listen_peers.map_or_else(|| own.clone(), |a| a.to_string());
    let join = a.join || file.join;
    let auto_promote = a.auto_promote || file.auto_promote;
    let resp: SocketAddr = a.resp.or(file.resp).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 6379)));
    let data_dir: PathBuf =
        a.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(format!("synod-node-{id}")));
    let common = a.common.clone().over(&file);
    let settings = Settings::resolve(&common.server, &common.tuning, 1, members.len().saturating_sub(1))?;
    let certs_dir = a.certs.clone().or(file.certs.clone());
    if a.print_config {
        let effective = NodeFile {
            id: Some(id.0),
            cluster_id: Some(cluster_id),
            members: members.iter().map(|(k, v)| (k.0.to_string(), v.clone())).collect(),
            join,
            auto_promote,
            listen_peers,
            resp: Some(resp),
            data_dir: Some(data_dir),
            protocol: Some(common.protocol()),
            transport: Some(common.transport()),
            runtime: Some(common.runtime()),
            metrics: common.metrics,
            certs: certs_dir,
            server: common.server.clone(),
            tuning: settings.tuning.as_opts(),
        };
        print!("{}", print_config(&effective)?);
        return Ok(());
    }
    settings.check_exposure(resp)?;
    let transport = common.transport();
    let cert = peer_cert(transport, certs_dir.as_deref(), id, &cluster_id, &members, common.server.trusted_network)?;
    log_seed(&settings);
    let stop = interrupt()?;
    let rt = Rt::start(common.runtime(), settings.tuning.worker_threads)
        .map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        let peer = match transport {
            TransportKind::Tcp => {
                let (pl, _) = rt.bind(&bind).await.map_err(|e| format!("binding peer address {bind}: {e}"))?;
                match &cert {
                    Some(cert) => PeerEndpoint::Tcp(pl, Box::new(cert.clone())),
                    // A cluster of one: nobody to authenticate, and a hello
                    // from anyone names no configured peer.
                    None => PeerEndpoint::TcpInsecure(pl),
                }
            }
            TransportKind::TcpInsecure => {
                let (pl, _) = rt.bind(&bind).await.map_err(|e| format!("binding peer address {bind}: {e}"))?;
                PeerEndpoint::TcpInsecure(pl)
            }
            TransportKind::Quic => {
                let cert = cert.clone().ok_or("--certs DIR is required with --transport quic")?;
                let sock = std::net::UdpSocket::bind(&bind).map_err(|e| format!("binding UDP {bind}: {e}"))?;
                PeerEndpoint::Quic(sock, Box::new(cert))
            }
        };
        let (rl, raddr) = rt.bind(&resp.to_string()).await.map_err(|e| format!("binding RESP on {resp}: {e}"))?;
        let spec = Spec {
            id,
            cluster_id,
            members,
            join,
            auto_promote,
            peer,
            resp_listener: (rl, raddr),
            data_dir,
            protocol: common.protocol(),
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

/// `effective` as a config file `synod node --config` reads back; secrets
/// are left out and said to be.
fn print_config(effective: &NodeFile) -> Result<String, Error> {
    let mut out = String::from("# synod node: effective settings (flags over the config file over the defaults)\n");
    if effective.server.requirepass.is_some() {
        out.push_str(
            "# server.requirepass is set (not shown): give it again (or SYNOD_REQUIREPASS) when using this file\n",
        );
    }
    let mut shown = effective.clone();
    shown.server.users = shown.server.users.iter().map(|u| u.hashed()).collect();
    out.push_str(&toml::to_string(&shown).map_err(|e| format!("printing the settings: {e}"))?);
    Ok(out)
}

/// Says which seed the replicas' random timeouts come from, so a run can
/// be replayed.
fn log_seed(settings: &Settings) {
    let t = &settings.tuning;
    let from = if t.seed_given { "given" } else { "drawn from the OS" };
    eprintln!("synod: replica seed {} ({from}; --seed {} replays it)", t.seed, t.seed);
}

/// `synod status`.
pub fn status(a: StatusArgs) -> Result<(), Error> {
    let v = crate::status::fetch_as(&a.remote.addr, a.remote.login(), core::time::Duration::from_secs(10))?;
    if a.json {
        println!("{v}");
    } else {
        print!("{}", crate::status::table(&v));
    }
    Ok(())
}

/// This node's certificate for `transport`, loaded and checked, or why
/// the node must not start: an authenticated transport between machines
/// needs certificates, and plain TCP is refused toward a peer off this
/// machine unless the network is declared trusted.
fn peer_cert(
    transport: TransportKind,
    dir: Option<&Path>,
    id: NodeId,
    cluster_id: &str,
    members: &BTreeMap<NodeId, String>,
    trusted_network: bool,
) -> Result<Option<NodeCert>, Error> {
    let alone = members.len() <= 1;
    match (transport.authenticated(), dir) {
        (true, Some(dir)) => {
            let cert = NodeCert::load(dir, id).map_err(|e| e.to_string())?;
            warn_if_expiring(&cert, dir);
            if cert.cluster_id() != cluster_id {
                return Err(format!(
                    "{} holds certificates of cluster {:?}, not {cluster_id:?}",
                    dir.display(),
                    cert.cluster_id()
                ));
            }
            Ok(Some(cert))
        }
        (true, None) if alone && transport == TransportKind::Tcp => Ok(None),
        (true, None) => Err(format!(
            "--transport {} authenticates peers with mutual TLS and needs --certs DIR (ca.pem, node-{id}.pem, \
             node-{id}.key): create them with `synod certs --cluster-id {cluster_id} --nodes 1,2,3 --out DIR`; \
             on one machine's loopback, --transport tcp-insecure runs without them",
            if transport == TransportKind::Quic { "quic" } else { "tcp" }
        )),
        (false, _) => {
            let remote: Vec<&String> =
                members.iter().filter(|(m, a)| **m != id && !is_loopback(a)).map(|(_, a)| a).collect();
            if !remote.is_empty() && !trusted_network {
                return Err(format!(
                    "--transport tcp-insecure would let anyone who reaches {} act as a member: use --transport tcp \
                     with --certs, or add --trusted-network if only your own machines can reach these ports",
                    remote.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(None)
        }
    }
}

/// Says so, loudly, when `cert` ends within 30 days: peers refuse an
/// expired certificate, and the node would be cut off.
fn warn_if_expiring(cert: &NodeCert, dir: &Path) {
    let left = cert.not_after().duration_since(std::time::SystemTime::now()).unwrap_or_default();
    if left < core::time::Duration::from_secs(30 * 24 * 3600) {
        eprintln!(
            "synod: WARNING: node {}'s certificate in {} expires in {} days; renew it with `synod certs renew`",
            cert.id(),
            dir.display(),
            left.as_secs() / 86400
        );
    }
}

/// True for a peer address on this machine's loopback.
fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<core::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The local cluster's certificates: loaded from `dir`, or created there
/// on the first start.
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

/// `synod certs`: a new cluster CA and certificates for its nodes, or
/// `synod certs renew` / `issue`.
pub fn certs(a: CertsArgs) -> Result<(), Error> {
    match a.action {
        Some(CertsAction::Renew(r)) => return renew(r),
        Some(CertsAction::Issue(r)) => return issue(r),
        None => {}
    }
    let (Some(cluster_id), Some(out)) = (a.cluster_id, a.out) else {
        return Err("--cluster-id and --out are required".into());
    };
    let validity = days(a.days)?;
    let ca = certs::new_cluster_ca(&cluster_id).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    ca.write_pem(&out).map_err(|e| e.to_string())?;
    for id in &a.nodes {
        ca.issue_node_for(NodeId(*id), validity).and_then(|c| c.write_pem(&out)).map_err(|e| e.to_string())?;
    }
    println!(
        "synod: CA for cluster {cluster_id:?} and certificates for nodes {:?} (valid {} days) written to {}",
        a.nodes,
        a.days,
        out.display()
    );
    println!("keep ca.key offline; each node needs ca.pem and its node-<id>.pem and node-<id>.key");
    Ok(())
}

fn days(days: u64) -> Result<core::time::Duration, Error> {
    if days == 0 || days > 100 * 365 {
        return Err(format!("--days {days}: a certificate is valid for 1 to 36500 days"));
    }
    Ok(core::time::Duration::from_secs(days * 24 * 3600))
}

/// `synod certs renew`: new certificates and keys from the same CA.
fn issue(r: RenewArgs) -> Result<(), Error> {
    let validity = days(r.days)?;
    let ca = Ca::load(&r.dir).map_err(|e| e.to_string())?;
    for id in &r.nodes {
        let cert = ca.issue_node_for(NodeId(*id), validity).map_err(|e| e.to_string())?;
        cert.write_pem(&r.dir).map_err(|e| e.to_string())?;
    }
    println!(
        "synod: nodes {:?} of cluster {:?} have certificates (valid {} days) in {}",
        r.nodes,
        ca.cluster_id(),
        r.days,
        r.dir.display()
    );
    Ok(())
}

fn renew(r: RenewArgs) -> Result<(), Error> {
    let validity = days(r.days)?;
    let ca = Ca::load(&r.dir).map_err(|e| e.to_string())?;
    for id in &r.nodes {
        let cert = ca.issue_node_for(NodeId(*id), validity).map_err(|e| e.to_string())?;
        cert.replace_pem(&r.dir).map_err(|e| e.to_string())?;
    }
    println!(
        "synod: nodes {:?} of cluster {:?} have new certificates (valid {} days) in {}; each uses its own from its next start",
        r.nodes,
        ca.cluster_id(),
        r.days,
        r.dir.display()
    );
    Ok(())
}
