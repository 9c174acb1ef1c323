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
    /// Set once the peer left the configuration (or moved): its tasks end.
    pub removed: AtomicBool,
}

impl Peer {
    fn new(cfg: &QuicConfig, addr: String) -> Peer {
        let q = |n| BoundedQueue::new(n);
        let queues = [q(cfg.queue_frames), q(cfg.queue_frames), q(cfg.snapshot_queue_frames), q(cfg.queue_frames)];
        Peer { addr, queues, link: watch::Sender::new(None), removed: AtomicBool::new(false) }
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Ends the peer's tasks and its connection.
    fn remove(&self, why: &'static [u8]) {
        self.removed.store(true, Ordering::Release);
        self.queues.iter().for_each(BoundedQueue::close);
        if let Some(link) = self.link.send_replace(None) {
            link.conn.close(wire::code::CLOSING, why);
        }
    }
}

pub(crate) struct Shared {
    pub cfg: QuicConfig,
    pub codec: FrameCodec,
    pub inbox: BoundedQueue<(NodeId, Frame)>,
    /// Peers whose connection ended.
    pub lost: LostPeers,
    /// Frames and bytes each way, by peer.
    pub traffic: synod_net::transport::TrafficCounters,
    peers: Mutex<BTreeMap<NodeId, Arc<Peer>>>,
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

    /// Peer `id`, if it is one now.
    pub fn peer(&self, id: NodeId) -> Option<Arc<Peer>> {
        lock(&self.peers).get(&id).cloned()
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
    /// How this node dials, for peers added later.
    client: quinn::ClientConfig,
    /// Seeds the jitter of dialers started later.
    rng: Mutex<synod_core::rand::Rng>,
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
        // Any node of the cluster CA with a lower id completes TLS (the
        // lower id dials); the hello then admits only a configured peer
        // (accept.rs), and the peers change with the configuration.
        let mut server = tls::server_config(node, synod_tls::Dialers::Below(cfg.id))?;
        server.transport_config(transport.clone());
        let mut client = tls::client_config(node)?;
        client.transport_config(transport);
        let endpoint =
            quinn::Endpoint::new(tls::endpoint_config(node), Some(server), socket, Arc::new(quinn::TokioRuntime))?;
        let local_addr = endpoint.local_addr()?;

        let peers = cfg.peers.clone();
        let shared = Arc::new(Shared {
            codec: FrameCodec::new(cfg.max_frame),
            inbox: BoundedQueue::new(cfg.inbox_frames),
            lost: LostPeers::new(),
            traffic: synod_net::transport::TrafficCounters::new(cfg.peers.keys().copied()),
            peers: Mutex::new(BTreeMap::new()),
            stats: Mutex::new(QuicStats::default()),
            blocked: Mutex::new(BTreeSet::new()),
            closed: AtomicBool::new(false),
            stop: Signal::new(),
            next_link: AtomicU64::new(0),
            cfg,
        });
        let rng = Mutex::new(synod_core::rand::Rng::with_seed(shared.cfg.seed));
        tokio::spawn(accept::accept_loop(shared.clone(), endpoint.clone()));
        let t = QuicTransport { shared, endpoint: Mutex::new(Some(endpoint)), local_addr, client, rng };
        t.change_peers(&peers);
        Ok(Arc::new(t))
    }

    /// Starts the tasks of peers new or moved, ends those of peers gone.
    fn change_peers(&self, wanted: &BTreeMap<NodeId, String>) {
        let Some(endpoint) = lock(&self.endpoint).clone() else { return };
        let me = self.shared.cfg.id;
        let mut peers = lock(&self.shared.peers);
        peers.retain(|id, p| {
            let keep = wanted.get(id) == Some(&p.addr);
            if !keep {
                p.remove(b"left the configuration");
            }
            keep
        });
        for (id, addr) in wanted.iter().filter(|(id, _)| **id != me) {
            if peers.contains_key(id) {
                continue;
            }
            let peer = Arc::new(Peer::new(&self.shared.cfg, addr.clone()));
            peers.insert(*id, peer.clone());
            for class in Class::ALL {
                tokio::spawn(link::write_class(self.shared.clone(), *id, peer.clone(), class));
            }
            if *id > me {
                let rng = lock(&self.rng).derive();
                let (shared, client) = (self.shared.clone(), self.client.clone());
                tokio::spawn(dial::run(shared, endpoint.clone(), client, *id, peer, rng));
            }
        }
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
        self.shared.peer(peer).is_some_and(|p| p.link.borrow().is_some())
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
        let peer = self.shared.peer(to).ok_or(SendError::UnknownPeer(to))?;
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

    fn traffic(&self) -> Vec<synod_net::transport::PeerTraffic> {
        self.shared.traffic.totals()
    }

    async fn lost(&self) -> Option<NodeId> {
        self.shared.lost.next().await
    }

    fn set_peers(&self, peers: &BTreeMap<NodeId, String>) -> Result<(), synod_net::transport::PeersError> {
        if !self.shared.is_closed() {
            self.change_peers(peers);
        }
        Ok(())
    }

    fn close(&self) {
        let s = &self.shared;
        s.closed.store(true, Ordering::Release);
        s.stop.fire();
        s.inbox.close();
        s.lost.close();
        for p in lock(&s.peers).values() {
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
