//! The deployments the scenario suite and the adapter benchmark run on:
//! tokio TCP, smol TCP and QUIC, each over `synod-storage` on disk.

use crate::scenarios::{Deploy, Wired};
use async_trait::async_trait;
use core::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::time::Duration;
use synod_net::runtime::Runtime;
use synod_net::store::LogStore;
use synod_net::stream::StreamConfig;
use synod_storage::{Storage, StorageConfig};

const CLUSTER: &str = "scenario";

/// Node data directories under one scratch directory, removed on drop.
pub struct Disks {
    root: PathBuf,
}

impl Disks {
    /// A fresh scratch directory named after `name`.
    pub fn new(name: &str) -> Disks {
        let root = std::env::temp_dir().join(format!("synod-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Disks { root }
    }

    /// Opens node `id`'s storage, waiting for a stopped node's store to
    /// release the directory.
    pub fn open(&self, id: NodeId) -> Box<dyn LogStore> {
        let dir = self.root.join(format!("node-{id}"));
        let mut last = None;
        for _ in 0..200 {
            match Storage::open(&dir, StorageConfig::new(CLUSTER, id)) {
                Ok(s) => return Box::new(s),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(core::time::Duration::from_millis(25));
        }
        panic!("cannot open {}: {last:?}", dir.display());
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// TCP on tokio.
pub struct TokioTcp {
    rt: Arc<synod_tokio::TokioRuntime>,
    disks: Disks,
}

impl TokioTcp {
    /// Must be called inside a tokio runtime.
    pub fn new(name: &str) -> Self {
        TokioTcp { rt: synod_tokio::TokioRuntime::current(), disks: Disks::new(name) }
    }
}

fn stream_config(id: NodeId, peers: BTreeMap<NodeId, String>) -> StreamConfig {
    let mut cfg = StreamConfig::new(id, CLUSTER, peers);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

#[async_trait]
impl Deploy for TokioTcp {
    fn name(&self) -> &'static str {
        "tokio-tcp"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }
    async fn reserve(&self, port: u16) -> std::io::Result<(Box<dyn Any + Send>, String)> {
        let (l, addr) = synod_tokio::bind(&format!("127.0.0.1:{port}")).await?;
        Ok((Box::new(l), addr.to_string()))
    }
    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, ep: Box<dyn Any + Send>) -> Wired {
        let listener = *ep.downcast::<synod_tokio::TcpListener>().expect("a tokio listener");
        let t = synod_tokio::tcp_transport(stream_config(id, peers), listener, self.rt.clone());
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |p| blocker.block(p)) }
    }
    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        self.disks.open(id)
    }
}

/// TCP on smol.
pub struct SmolTcp {
    rt: Arc<synod_smol::SmolRuntime>,
    disks: Disks,
}

impl SmolTcp {
    /// With its own two executor threads.
    pub fn new(name: &str) -> Self {
        SmolTcp { rt: synod_smol::SmolRuntime::with_threads(2).expect("smol threads"), disks: Disks::new(name) }
    }
}

#[async_trait]
impl Deploy for SmolTcp {
    fn name(&self) -> &'static str {
        "smol-tcp"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }
    async fn reserve(&self, port: u16) -> std::io::Result<(Box<dyn Any + Send>, String)> {
        let (l, addr) = synod_smol::bind(&format!("127.0.0.1:{port}")).await?;
        Ok((Box::new(l), addr.to_string()))
    }
    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, ep: Box<dyn Any + Send>) -> Wired {
        let listener = *ep.downcast::<synod_smol::TcpListener>().expect("a smol listener");
        let t = synod_smol::tcp_transport(stream_config(id, peers), listener, self.rt.clone());
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |p| blocker.block(p)) }
    }
    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        self.disks.open(id)
    }
}

/// QUIC with mutual TLS on tokio.
pub struct Quic {
    rt: Arc<synod_tokio::TokioRuntime>,
    ca: synod_quic::certs::Ca,
    disks: Disks,
}

impl Quic {
    /// Must be called inside a tokio runtime.
    pub fn new(name: &str) -> Self {
        let ca = synod_quic::certs::new_cluster_ca(CLUSTER).expect("cluster CA");
        Quic { rt: synod_tokio::TokioRuntime::current(), ca, disks: Disks::new(name) }
    }
}

#[async_trait]
impl Deploy for Quic {
    fn name(&self) -> &'static str {
        "quic"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }
    async fn reserve(&self, port: u16) -> std::io::Result<(Box<dyn Any + Send>, String)> {
        let socket = std::net::UdpSocket::bind(("127.0.0.1", port))?;
        let addr = socket.local_addr()?;
        Ok((Box::new(socket), addr.to_string()))
    }
    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, ep: Box<dyn Any + Send>) -> Wired {
        let socket = *ep.downcast::<std::net::UdpSocket>().expect("a UDP socket");
        let mut cfg = synod_quic::QuicConfig::new(id, CLUSTER, peers);
        cfg.backoff_max = Duration::from_millis(200);
        let node = self.ca.issue_node(id).expect("node certificate");
        let t = synod_quic::QuicTransport::start(cfg, &node, socket).expect("QUIC transport starts");
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |p| blocker.block(p)) }
    }
    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        self.disks.open(id)
    }
}
