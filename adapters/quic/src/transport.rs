//! The QUIC transport: what the node sees, and the state its tasks share.

use crate::certs::NodeCert;
use crate::class::Class;
use crate::config::{QuicConfig, QuicStats};
use crate::link::Link;
use crate::tls::{self, TlsError};
use crate::{accept, dial, link, wire};
use async_trait::async_trait;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use synod_core::id::NodeId;
use synod_net::codec::{Frame, FrameCodec};
use synod_net::queue::{BoundedQueue, QueueError};
use synod_net::signal::Signal;
use synod_net::transport::{LostPeers, SendError, Transport};
use tokio::sync::watch;

/// Why a QUIC transport could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// The certificates belong to another cluster than the configuration.
    #[error("the certificates are for cluster {cert:?}, the configuration says {config:?}")]
    ClusterMismatch {
        /// From the configuration.
        config: String,
        /// From the certificates.
        cert: String,
    },
    /// The certificate names another node than the configuration.
    #[error("the certificate is for node {cert}, the configuration says node {config}")]
    NodeMismatch {
        /// From the configuration.
        config: NodeId,
        /// From the certificate.
        cert: NodeId,
    },
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A timeout is out of QUIC's range.
    #[error("idle timeout out of range")]
    IdleTimeout,
    /// The socket could not be set up.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// One peer: its address, a queue per class, and the live link, if any.
pub(crate) struct Peer {
    pub addr: String,
    pub queues: [BoundedQueue<Frame>; 4],
    pub link: watch::Sender<Option<Link>>,
}

pub(crate) struct Shared {
    pub cfg: QuicConfig,
    pub codec: FrameCodec,
    pub inbox: BoundedQueue<(NodeId, Frame)>,
    /// Peers whose connection ended.
    pub lost: LostPeers,
    pub peers: BTreeMap<NodeId, Peer>,
    stats: Mutex<QuicStats>,
    blocked: Mutex<BTreeSet<NodeId>>,
    closed: AtomicBool,
    /// Fired on close, to wake tasks waiting elsewhere.
    pub stop: Signal,
    pub next_link: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn is_blocked(&self, peer: NodeId) -> bool {
        lock(&self.blocked).contains(&peer)
    }

    pub fn count(&self, f: impl FnOnce(&mut QuicStats)) {
        f(&mut lock(&self.stats));
    }

    /// Records a refused or cut connection and why.
    pub fn reject(&self, reason: String) {
        self.count(|s| {
            s.rejected += 1;
            s.last_rejection = Some(reason);
        });
    }
}

/// A [`Transport`] over QUIC. See the [crate docs](crate).
pub struct QuicTransport {
    shared: Arc<Shared>,
    endpoint: Mutex<Option<quinn::Endpoint>>,
    local_addr: SocketAddr,
}

impl QuicTransport {
    /// Binds `addr` (port 0 picks a free one) and starts. Must be called
    /// inside a tokio runtime.
    pub fn bind(cfg: QuicConfig, node: &NodeCert, addr: SocketAddr) -> Result<Arc<QuicTransport>, QuicError> {
        QuicTransport::start(cfg, node, std::net::UdpSocket::bind(addr)?)
    }

    /// Starts on a bound UDP socket: dials every peer with a higher id,
    /// accepts the peers with a lower id. Must be called inside a tokio
    /// runtime (the tasks are spawned on it).
    pub fn start(
        cfg: QuicConfig,
        node: &NodeCert,
        socket: std::net::UdpSocket,
    ) -> Result<Arc<QuicTransport>, QuicError> {
        if node.cluster_id() != cfg.cluster_id {
            return Err(QuicError::ClusterMismatch { config: cfg.cluster_id, cert: node.cluster_id().into() });
        }
        if node.id() != cfg.id {
            return Err(QuicError::NodeMismatch { config: cfg.id, cert: node.id() });
        }
        tls::check(node)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(1u32.into())
            .max_concurrent_uni_streams((Class::ALL.len() as u32).into())
            .keep_alive_interval(Some(cfg.keep_alive))
            .max_idle_timeout(Some(cfg.idle_timeout.try_into().map_err(|_| QuicError::IdleTimeout)?));
        let transport = Arc::new(transport);
        let mut server = tls::server_config(node, cfg.dialers().collect())?;
        server.transport_config(transport.clone());
        let mut client = tls::client_config(node)?;
        client.transport_config(transport);
        let endpoint =
            quinn::Endpoint::new(tls::endpoint_config(node), Some(server), socket, Arc::new(quinn::TokioRuntime))?;
        let local_addr = endpoint.local_addr()?;

        let peers = cfg
            .peers
            .iter()
            .filter(|(p, _)| **p != cfg.id)
            .map(|(p, addr)| {
                let q = |n| BoundedQueue::new(n);
                let queues =
                    [q(cfg.queue_frames), q(cfg.queue_frames), q(cfg.snapshot_queue_frames), q(cfg.queue_frames)];
                (*p, Peer { addr: addr.clone(), queues, link: watch::Sender::new(None) })
            })
            .collect();
        let shared = Arc::new(Shared {
            codec: FrameCodec::new(cfg.max_frame),
            inbox: BoundedQueue::new(cfg.inbox_frames),
            lost: LostPeers::new(),
            peers,
            stats: Mutex::new(QuicStats::default()),
            blocked: Mutex::new(BTreeSet::new()),
            closed: AtomicBool::new(false),
            stop: Signal::new(),
            next_link: AtomicU64::new(0),
            cfg,
        });
        let mut rng = synod_core::rand::Rng::with_seed(shared.cfg.seed);
        for peer in shared.peers.keys().copied() {
            for class in Class::ALL {
                tokio::spawn(link::write_class(shared.clone(), peer, class));
            }
            if peer > shared.cfg.id {
                tokio::spawn(dial::run(shared.clone(), endpoint.clone(), client.clone(), peer, rng.derive()));
            }
        }
        tokio::spawn(accept::accept_loop(shared.clone(), endpoint.clone()));
        Ok(Arc::new(QuicTransport { shared, endpoint: Mutex::new(Some(endpoint)), local_addr }))
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters so far.
    pub fn stats(&self) -> QuicStats {
        lock(&self.shared.stats).clone()
    }

    /// True while a connection to `peer` is up (handshake done).
    pub fn is_connected(&self, peer: NodeId) -> bool {
        self.shared.peers.get(&peer).is_some_and(|p| p.link.borrow().is_some())
    }

    /// Drops all traffic to and from `peers` (and nothing else) until the
    /// next call: a network partition for fault-injection tests.
    pub fn block(&self, peers: impl IntoIterator<Item = NodeId>) {
        *lock(&self.shared.blocked) = peers.into_iter().collect();
    }
}

#[async_trait]
impl Transport for QuicTransport {
    fn send(&self, to: NodeId, frame: Frame) -> Result<(), SendError> {
        let peer = self.shared.peers.get(&to).ok_or(SendError::UnknownPeer(to))?;
        if self.shared.is_blocked(to) {
            return Ok(()); // lost on the wire
        }
        match peer.queues[Class::of(&frame).index()].push(frame) {
            Ok(()) => Ok(()),
            Err(QueueError::Full) => {
                self.shared.count(|s| s.dropped += 1);
                Err(SendError::Busy(to))
            }
            Err(QueueError::Closed) => Err(SendError::Closed),
        }
    }

    async fn recv(&self) -> Option<(NodeId, Frame)> {
        loop {
            // One frame at a time keeps `recv` cancel-safe.
            if let Some(f) = self.shared.inbox.try_pop() {
                return Some(f);
            }
            if !self.shared.inbox.wait_nonempty().await {
                return None;
            }
        }
    }

    async fn lost(&self) -> Option<NodeId> {
        self.shared.lost.next().await
    }

    fn close(&self) {
        let s = &self.shared;
        s.closed.store(true, Ordering::Release);
        s.stop.fire();
        s.inbox.close();
        s.lost.close();
        for p in s.peers.values() {
            p.queues.iter().for_each(BoundedQueue::close);
            p.link.send_replace(None);
        }
        // Dropping our handle lets the socket go once the tasks have ended.
        if let Some(endpoint) = lock(&self.endpoint).take() {
            endpoint.close(wire::code::CLOSING, b"node shutting down");
        }
    }
}

impl Drop for QuicTransport {
    fn drop(&mut self) {
        self.close();
    }
}
