//! Puts one node together: storage, transport, replica, the replicated
//! store, the node driver, and its RESP front end.

use crate::args::Protocol;
use crate::resp::{self, Directory};
use crate::rt::Rt;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::paxos::multi::{Config as MultiPaxosConfig, MultiPaxos};
use synod_core::raft::{Config as RaftConfig, Raft};
use synod_core::replica::{Membership, Replica};
use synod_core::service::Store;
use synod_core::time::Duration;
use synod_net::node::{self, NodeConfig, NodeHandle, ServiceTick};
use synod_net::stream::{Listener, StreamConfig, StreamTransport};
use synod_net::transport::Transport;
use synod_storage::{Storage, StorageConfig};

/// Where a node meets its peers.
pub enum PeerEndpoint {
    /// A bound TCP listener.
    Tcp(Box<dyn Listener>),
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

fn replica_factory(protocol: Protocol, id: NodeId, voters: Membership) -> Result<node::ReplicaFactory, StartError> {
    match protocol {
        Protocol::Raft => Ok(Box::new(move |now, recovered| {
            let mut cfg = RaftConfig::new(id, id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            cfg.election_timeout = Duration::from_millis(500);
            cfg.heartbeat_interval = Duration::from_millis(50);
            let raft = Raft::new(cfg, now, recovered, voters).map_err(|e| e.to_string())?;
            Ok(Box::new(raft) as Box<dyn Replica + Send>)
        })),
        Protocol::MultiPaxos => Ok(Box::new(move |now, recovered| {
            // The defaults already match the Raft timings above (500 ms
            // election timeout, 50 ms heartbeats).
            let cfg = MultiPaxosConfig::new(id, id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let paxos = MultiPaxos::new(cfg, now, recovered, voters).map_err(|e| e.to_string())?;
            Ok(Box::new(paxos) as Box<dyn Replica + Send>)
        })),
    }
}

/// Starts a node from `spec` on `rt`.
pub async fn start(rt: &Rt, spec: Spec) -> Result<Running, StartError> {
    let voters = Membership::voters_only(spec.members.keys().copied())
        .map_err(|_| StartError::Unavailable("a cluster without members"))?;
    let factory = replica_factory(spec.protocol, spec.id, voters)?;
    let dir = spec.data_dir.clone();
    let storage = Storage::open(&dir, StorageConfig::new(spec.cluster_id.clone(), spec.id))
        .map_err(|source| StartError::Storage { dir: dir.clone(), source })?;
    let peers: BTreeMap<NodeId, String> =
        spec.members.iter().filter(|(p, _)| **p != spec.id).map(|(p, a)| (*p, a.clone())).collect();
    let transport: Arc<dyn Transport> = match spec.peer {
        PeerEndpoint::Tcp(listener) => StreamTransport::start(
            StreamConfig::new(spec.id, spec.cluster_id.clone(), peers),
            rt.connector(),
            listener,
            rt.runtime(),
        ),
        PeerEndpoint::Quic(socket, cert) => {
            if !matches!(rt, Rt::Tokio(..)) {
                return Err(StartError::Unavailable("QUIC on smol (QUIC runs on tokio)"));
            }
            let cfg = synod_quic::QuicConfig::new(spec.id, spec.cluster_id.clone(), peers);
            rt.enter(|| synod_quic::QuicTransport::start(cfg, &cert, socket))?
        }
    };
    let mut cfg = NodeConfig::new(spec.id);
    cfg.service_tick = Some(ServiceTick { every: Duration::from_millis(100), command: Arc::new(Store::tick) });
    let handle =
        node::start(cfg, Box::new(storage), factory, Box::new(Store::default()), transport.clone(), rt.runtime())
            .await?;
    let (listener, resp_addr) = spec.resp_listener;
    let suspicion = crate::suspicion::Suspicion::watch(handle.clone(), rt.runtime(), Duration::from_millis(50));
    let runtime = rt.runtime();
    let clock = Arc::new(move || runtime.now());
    let dir = Directory { resp: spec.directory, suspicion, clock };
    rt.runtime().spawn(Box::pin(resp::serve(listener, Arc::new(handle.clone()), rt.runtime(), dir)));
    Ok(Running { id: spec.id, handle, resp: resp_addr })
}
