//! The deployments the scenario suite and the adapter benchmark run on:
//! tokio TCP, smol TCP (both with mutual TLS on a cluster CA, or plain for
//! comparison) and QUIC, each over `synod-storage` on disk.

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
use synod_net::stream::{Authenticator, StreamConfig, Unauthenticated};
use synod_storage::{Storage, StorageConfig};
use synod_tls::TlsAuthenticator;
use synod_tls::certs::{self, Ca};

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

    /// Removes every node's storage.
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
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

/// How a TCP deployment secures its connections: mutual TLS on a fresh
/// cluster CA, or nothing (to measure what TLS costs).
enum Security {
    Tls(Box<Ca>),
    Plain,
}

impl Security {
    fn tls() -> Security {
        Security::Tls(Box::new(certs::new_cluster_ca(CLUSTER).expect("cluster CA")))
    }

    fn authenticator(&self, id: NodeId, peers: &BTreeMap<NodeId, String>) -> Arc<dyn Authenticator> {
        match self {
            Security::Tls(ca) => {
                let node = ca.issue_node(id).expect("node certificate");
                // Any node of the CA may dial: the transport admits only
                // its configured peers, which follow the configuration.
                let _ = peers;
                Arc::new(TlsAuthenticator::new(&node, synod_tls::Dialers::AnyNode).expect("TLS configuration"))
            }
            Security::Plain => Arc::new(Unauthenticated),
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Security::Tls(_))
    }
}

/// TCP on tokio.
pub struct TokioTcp {
    rt: Arc<synod_tokio::TokioRuntime>,
    security: Security,
    disks: Disks,
}

impl TokioTcp {
    /// With mutual TLS. Must be called inside a tokio runtime.
    pub fn new(name: &str) -> Self {
        TokioTcp { rt: synod_tokio::TokioRuntime::current(), security: Security::tls(), disks: Disks::new(name) }
    }

    /// Without TLS, for comparison. Must be called inside a tokio runtime.
    pub fn plain(name: &str) -> Self {
        TokioTcp { rt: synod_tokio::TokioRuntime::current(), security: Security::Plain, disks: Disks::new(name) }
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
        if self.security.is_tls() { "tokio-tcp-tls" } else { "tokio-tcp-plain" }
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
        let auth = self.security.authenticator(id, &peers);
        let t = synod_tokio::tcp_transport(stream_config(id, peers), listener, self.rt.clone(), auth);
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |p| blocker.block(p)) }
    }
    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        self.disks.open(id)
    }
    fn wipe(&self) {
        self.disks.clear();
    }
}

/// TCP on smol.
pub struct SmolTcp {
    rt: Arc<synod_smol::SmolRuntime>,
    security: Security,
    disks: Disks,
}

impl SmolTcp {
    /// With mutual TLS and its own two executor threads.
    pub fn new(name: &str) -> Self {
        SmolTcp::with(name, Security::tls())
    }

    /// Without TLS, for comparison.
    pub fn plain(name: &str) -> Self {
        SmolTcp::with(name, Security::Plain)
    }

    fn with(name: &str, security: Security) -> Self {
        let rt = synod_smol::SmolRuntime::with_threads(2).expect("smol threads");
        SmolTcp { rt, security, disks: Disks::new(name) }
    }
}

#[async_trait]
impl Deploy for SmolTcp {
    fn name(&self) -> &'static str {
        if self.security.is_tls() { "smol-tcp-tls" } else { "smol-tcp-plain" }
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
        let auth = self.security.authenticator(id, &peers);
        let t = synod_smol::tcp_transport(stream_config(id, peers), listener, self.rt.clone(), auth);
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |p| blocker.block(p)) }
    }
    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        self.disks.open(id)
    }
    fn wipe(&self) {
        self.disks.clear();
    }
}

/// QUIC with mutual TLS on tokio.
pub struct Quic {
    rt: Arc<synod_tokio::TokioRuntime>,
    ca: Ca,
    disks: Disks,
}

impl Quic {
    /// Must be called inside a tokio runtime.
    pub fn new(name: &str) -> Self {
        let ca = certs::new_cluster_ca(CLUSTER).expect("cluster CA");
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
    fn wipe(&self) {
        self.disks.clear();
    }
}
