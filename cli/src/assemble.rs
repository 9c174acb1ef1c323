//! Puts one node together: storage, transport, replica, the replicated
//! store, the node driver, and its RESP front end.

use crate::args::{Protocol, ServerOpts};
use crate::resp::{self, ClientSlots, Directory, RespLimits, Users};
use crate::rt::Rt;
use crate::tuning::{Tuning, TuningOpts};
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::paxos::multi::MultiPaxos;
use synod_core::raft::Raft;
use synod_core::replica::{Membership, Replica};
use synod_core::service::Store;
use synod_core::time::Duration;
use synod_net::node::{self, NodeConfig, NodeHandle, ServiceTick, TickTime};
use synod_net::stream::{Listener, StreamConfig, StreamTransport, Unauthenticated};
use synod_net::transport::Transport;
use synod_storage::{Storage, StorageConfig};
use synod_tls::TlsAuthenticator;

/// Where a node meets its peers.
pub enum PeerEndpoint {
    /// A bound TCP listener and this node's certificate (mutual TLS).
    Tcp(Box<dyn Listener>, Box<synod_quic::certs::NodeCert>),
    /// A bound TCP listener, and no authentication at all.
    TcpInsecure(Box<dyn Listener>),
    /// A bound UDP socket and this node's certificate (QUIC, mutual TLS).
    Quic(std::net::UdpSocket, Box<synod_quic::certs::NodeCert>),
}

/// Everything needed to start one node.
pub struct Spec {
    /// This node.
    pub id: NodeId,
    /// The cluster.
    pub cluster_id: String,
    /// Every member's peer address, this node's included.
    pub members: BTreeMap<NodeId, String>,
    /// Join a running cluster rather than found one with `members`.
    pub join: bool,
    /// Promote caught-up learners while leading.
    pub auto_promote: bool,
    /// This node's bound peer endpoint.
    pub peer: PeerEndpoint,
    /// This node's bound RESP listener and its address.
    pub resp_listener: (Box<dyn Listener>, SocketAddr),
    /// Where its log lives.
    pub data_dir: PathBuf,
    /// The protocol.
    pub protocol: Protocol,
    /// Members' RESP addresses, for redirect hints.
    pub directory: std::sync::Arc<BTreeMap<NodeId, SocketAddr>>,
    /// The process's server settings.
    pub settings: Settings,
}

/// Server settings resolved once per process and shared by its nodes.
#[derive(Clone)]
pub struct Settings {
    /// What every node's front end enforces.
    pub policy: resp::Policy,
    /// Clients must present a certificate of a CA.
    pub client_certs: bool,
    /// Storage quota per node.
    pub quota_bytes: Option<u64>,
    /// Snapshot every this many applied entries.
    pub snapshot_every: u64,
    /// Exposure without authentication was asked for.
    pub trusted_network: bool,
    /// Timing, reads and the seed.
    pub tuning: Tuning,
    /// Group-commit latency of the process's nodes.
    pub syncs: Arc<crate::sync_stats::SyncStats>,
}

impl Settings {
    /// Resolves `opts` for a process of `nodes` nodes with `peers` peers
    /// each: checks the users and TLS files, fits the client limit to the
    /// descriptor limit.
    pub fn resolve(opts: &ServerOpts, tuning: &TuningOpts, nodes: usize, peers: usize) -> Result<Settings, String> {
        let tuning = tuning.resolve()?;
        let users = Users::new(opts.requirepass.as_deref(), &opts.users)?;
        let files = match (&opts.tls_cert, &opts.tls_key) {
            (Some(cert), Some(key)) => {
                Some(resp::TlsFiles { cert: cert.clone(), key: key.clone(), client_ca: opts.tls_client_ca.clone() })
            }
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let tls = files.as_ref().map(resp::acceptor).transpose()?;
        let mut limits = RespLimits::default();
        if let Some(n) = opts.max_request_bytes {
            limits.parse.max_request = n;
        }
        if let Some(n) = opts.max_reply_bytes {
            limits.max_reply = n;
        }
        limits.idle_timeout = opts.timeout.filter(|t| *t > 0).map(Duration::from_secs);
        if let Some(s) = opts.stall_timeout {
            limits.stall_timeout = Duration::from_secs(s.max(1));
        }
        let maxclients = resp::fit_clients(opts.maxclients.unwrap_or(10_000), resp::reserved_fds(nodes, peers))?;
        let store = synod_core::service::Config::default();
        Ok(Settings {
            policy: resp::Policy {
                limits,
                users,
                tls,
                slots: ClientSlots::new(maxclients),
                store,
                health_window: tuning.election_timeout(),
                stats: Arc::default(),
                read_mode: tuning.read_mode,
                reads_at: tuning.reads_at,
            },
            client_certs: opts.tls_client_ca.is_some(),
            quota_bytes: match opts.quota_bytes {
                None => Some(8 << 30),
                Some(0) => None,
                Some(q) => Some(q),
            },
            snapshot_every: opts.snapshot_every.unwrap_or(10_000),
            trusted_network: opts.trusted_network,
            tuning,
            syncs: Arc::default(),
        })
    }

    /// Refuses to serve RESP on `addr` without authentication unless it is
    /// loopback or the network was declared trusted (Redis's protected
    /// mode).
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), String> {
        if addr.ip().is_loopback() || self.policy.users.required() || self.client_certs || self.trusted_network {
            return Ok(());
        }
        Err(format!(
            "refusing to serve RESP on {addr} without authentication: anyone who reaches it could read and write \
             everything. Set --requirepass (or users in the config file) or --tls-client-ca, bind a loopback \
             address, or pass --trusted-network if this network is trusted"
        ))
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage refused or failed.
    #[error("storage at {dir}: {source}")]
    Storage {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: synod_net::store::StoreError,
    },
    /// The node itself failed to start.
    #[error(transparent)]
    Node(#[from] node::StartError),
    /// The chosen option is not built yet.
    #[error("{0} is not available in this build")]
    Unavailable(&'static str),
    /// The QUIC transport could not start.
    #[error("QUIC: {0}")]
    Quic(#[from] synod_quic::QuicError),
    /// The node's certificate cannot be used for TLS.
    #[error("TLS: {0}")]
    Tls(#[from] synod_tls::config::TlsError),
}

/// A running node.
pub struct Running {
    /// Its id.
    pub id: NodeId,
    /// Its handle.
    pub handle: NodeHandle,
    /// Where it serves RESP.
    pub resp: SocketAddr,
}

fn replica_factory(protocol: Protocol, id: NodeId, boot: Boot, tuning: &Tuning) -> node::ReplicaFactory {
    let voters = boot.initial.clone();
    match protocol {
        Protocol::Raft => {
            let cfg = tuning.raft(id);
            Box::new(move |now, recovered| {
                boot.check(&recovered)?;
                let raft = Raft::new(cfg, now, recovered, voters).map_err(|e| e.to_string())?;
                Ok(Box::new(raft) as Box<dyn Replica + Send>)
            })
        }
        Protocol::MultiPaxos => {
            let cfg = tuning.multi_paxos(id);
            Box::new(move |now, recovered| {
                boot.check(&recovered)?;
                let paxos = MultiPaxos::new(cfg, now, recovered, voters).map_err(|e| e.to_string())?;
                Ok(Box::new(paxos) as Box<dyn Replica + Send>)
            })
        }
    }
}

/// The configuration a node starts with, checked against its log's.
struct Boot {
    /// What a node founding a cluster bootstraps with; empty for a node
    /// joining one.
    initial: Membership,
    /// The members the operator named.
    named: BTreeMap<NodeId, String>,
    join: bool,
}

impl Boot {
    /// Once the log holds a configuration it is the truth, and the
    /// members the operator named must be its members: starting a node
    /// of {1,2,3} whose log says {2,3,4} means a stale config file or the
    /// wrong data directory, and is refused rather than silently
    /// overridden either way. A joining node names whom to reach, not the
    /// configuration, and is not checked: an operator restarting a node
    /// that missed a change (so its log holds the configuration from
    /// before it) can say so with `--join`.
    fn check(&self, recovered: &synod_core::replica::Recovered) -> Result<(), String> {
        if self.join {
            return Ok(());
        }
        let Some((index, log)) = log_configuration(recovered) else { return Ok(()) };
        let mut theirs: Vec<NodeId> = log.members().collect();
        theirs.sort_unstable();
        let ours: Vec<NodeId> = self.named.keys().copied().collect();
        if theirs == ours {
            return Ok(());
        }
        let list = |ids: &[NodeId]| ids.iter().map(|i| i.0.to_string()).collect::<Vec<_>>().join(",");
        Err(format!(
            "--members names nodes {} but this node's log (configuration at index {}) has members {}{}: the log \
             decides once it holds a configuration; name its members (a node that was down during a change \
             holds the configuration from before it), start it with --join to let its log decide, or point \
             --data-dir at the right directory",
            list(&ours),
            index.0,
            list(&theirs),
            if log.is_joint() { " (a change in progress)" } else { "" },
        ))
    }
}

/// The latest configuration in `recovered`: the last membership entry of
/// the log, else the snapshot's.
fn log_configuration(r: &synod_core::replica::Recovered) -> Option<(synod_core::id::LogIndex, Membership)> {
    let from_log = r
        .entries
        .iter()
        .rev()
        .filter(|e| e.kind == synod_core::replica::EntryKind::Membership)
        .find_map(|e| Membership::decode_exact(&e.data).ok().map(|m| (e.index, m)));
    from_log.or_else(|| r.snapshot.as_ref().map(|s| (s.meta.index, s.meta.membership.clone())))
}

/// Starts a node from `spec` on `rt`.
pub async fn start(rt: &Rt, spec: Spec) -> Result<Running, StartError> {
    let initial = if spec.join {
        Membership::default()
    } else {
        let addresses = spec.members.iter().map(|(id, a)| (*id, bytes::Bytes::from(a.clone())));
        Membership::voters_only(spec.members.keys().copied())
            .and_then(|m| m.with_addresses(addresses))
            .map_err(|_| StartError::Unavailable("a cluster without members, or an address too long"))?
    };
    let boot = Boot { initial, named: spec.members.clone(), join: spec.join };
    let tuning = &spec.settings.tuning;
    let factory = replica_factory(spec.protocol, spec.id, boot, tuning);
    let dir = spec.data_dir.clone();
    let mut storage_cfg = StorageConfig::new(spec.cluster_id.clone(), spec.id);
    // Segments small beside the quota, so that snapshots free space in
    // steps a quota can see (a segment goes only once nothing in it is live).
    if let Some(q) = spec.settings.quota_bytes {
        storage_cfg.segment_bytes = (q / 8).clamp(64 << 10, 64 << 20);
    }
    let storage =
        Storage::open(&dir, storage_cfg).map_err(|source| StartError::Storage { dir: dir.clone(), source })?;
    let peers: BTreeMap<NodeId, String> =
        spec.members.iter().filter(|(p, _)| **p != spec.id).map(|(p, a)| (*p, a.clone())).collect();
    let transport: Arc<dyn Transport> = match spec.peer {
        PeerEndpoint::Tcp(listener, cert) => {
            // Any node of the cluster CA completes TLS; the transport then
            // admits only the configuration's members, which change.
            let auth = TlsAuthenticator::new(&cert, synod_tls::Dialers::AnyNode)?;
            let cfg = StreamConfig::new(spec.id, spec.cluster_id.clone(), peers);
            StreamTransport::start(cfg, rt.connector(), listener, rt.runtime(), Arc::new(auth))
        }
        PeerEndpoint::TcpInsecure(listener) => {
            let cfg = StreamConfig::new(spec.id, spec.cluster_id.clone(), peers);
            StreamTransport::start(cfg, rt.connector(), listener, rt.runtime(), Arc::new(Unauthenticated))
        }
        PeerEndpoint::Quic(socket, cert) => {
            if !matches!(rt, Rt::Tokio(..)) {
                return Err(StartError::Unavailable("QUIC on smol (QUIC runs on tokio)"));
            }
            let cfg = synod_quic::QuicConfig::new(spec.id, spec.cluster_id.clone(), peers);
            rt.enter(|| synod_quic::QuicTransport::start(cfg, &cert, socket))?
        }
    };
    let mut cfg = NodeConfig::new(spec.id);
    // The transport's peers follow the configuration in the log.
    cfg.peers = Some(spec.members.clone());
    cfg.auto_promote = spec.auto_promote;
    cfg.request_timeout = Duration::from_millis(tuning.request_timeout_ms);
    cfg.service_tick = Some(ServiceTick {
        every: Duration::from_millis(tuning.service_tick_ms),
        command: Arc::new(|t: TickTime| Store::clock_tick(t.term.0, t.elapsed)),
    });
    cfg.quota_bytes = spec.settings.quota_bytes;
    cfg.on_sync = Some(spec.settings.syncs.observer(spec.id));
    cfg.snapshot_every = spec.settings.snapshot_every;
    let store = Box::new(Store::new(spec.settings.policy.store));
    let handle = node::start(cfg, Box::new(storage), factory, store, transport.clone(), rt.runtime()).await?;
    let (listener, resp_addr) = spec.resp_listener;
    let suspicion = crate::suspicion::Suspicion::watch(handle.clone(), rt.runtime(), Duration::from_millis(50));
    let runtime = rt.runtime();
    let clock = Arc::new(move || runtime.now());
    let dir = Directory { resp: spec.directory, suspicion, clock };
    let server = resp::Server::new(Arc::new(handle.clone()), dir, rt.runtime(), spec.settings.policy);
    rt.runtime().spawn(Box::pin(resp::serve(listener, Arc::new(server))));
    Ok(Running { id: spec.id, handle, resp: resp_addr })
}
