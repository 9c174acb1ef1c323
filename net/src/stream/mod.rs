//! A [`Transport`] over any reliable byte stream (TCP, TLS, a pipe): the
//! connection logic every stream adapter shares, written once.
//!
//! Each node dials every peer and sends on that connection; it receives on
//! the connections its peers dial to it. Per peer there is a bounded send
//! queue, a writer task that drains the whole queue into one buffer and
//! flushes once per batch, and reconnection with exponential backoff and
//! seeded jitter. Every connection starts with the handshake; a peer that
//! fails it, or later sends a malformed or oversized frame, is disconnected
//! with a logged reason while the node keeps serving everyone else.
//!
//! An adapter supplies a [`Connector`] (dial an address) and a [`Listener`]
//! (accept connections); see `synod-tokio` and `synod-smol`. An
//! [`Authenticator`] secures each fresh stream before the handshake and
//! says which node the far end proved to be: `synod-tls` gives mutual TLS
//! on the cluster's CA, under which a hello's claimed id must match the
//! certificate; [`Unauthenticated`] proves nothing, and is for tests and
//! loopback clusters only.
//!
//! Until a peer has authenticated and sent a valid hello, it may send
//! only [`MAX_HELLO`] bytes of frame: nobody unproven can make a node
//! buffer a large frame.

mod inbound;
mod outbound;

use crate::codec::{Frame, FrameCodec};
use crate::queue::{BoundedQueue, QueueError};
use crate::runtime::Runtime;
use crate::sync::{Arc, Mutex, lock};
use crate::transport::{LostPeers, SendError, Transport};
use async_trait::async_trait;
use futures::io::{AsyncRead, AsyncWrite};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use synod_core::id::NodeId;
use synod_core::time::Duration;

/// A bidirectional byte stream to a peer.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// Dials peers.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `addr`.
    async fn connect(&self, addr: &str) -> io::Result<Box<dyn Stream>>;
}

/// Accepts connections from peers.
#[async_trait]
pub trait Listener: Send + 'static {
    /// The next inbound stream, with the remote address for logs.
    async fn accept(&mut self) -> io::Result<(Box<dyn Stream>, String)>;
}

/// Proves who is at the far end of a fresh stream, before any synod byte
/// on it is believed. Both calls run in the connection's own task, under
/// the handshake timeout.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Secures a stream this node dialed to `peer`: fails unless the far
    /// end proves it is `peer`.
    async fn dialed(&self, stream: Box<dyn Stream>, peer: NodeId) -> io::Result<Box<dyn Stream>>;

    /// Secures a stream a peer dialed to this node, and returns the node
    /// it proved to be; `None` when this authenticator proves nothing, and
    /// the hello's claim is all there is.
    async fn accepted(&self, stream: Box<dyn Stream>) -> io::Result<(Box<dyn Stream>, Option<NodeId>)>;
}

/// Proves nothing: any process that reaches the port and knows the
/// cluster id is believed to be the node its hello names. For tests and
/// clusters on one machine's loopback, never for a network others reach.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unauthenticated;

#[async_trait]
impl Authenticator for Unauthenticated {
    async fn dialed(&self, stream: Box<dyn Stream>, _peer: NodeId) -> io::Result<Box<dyn Stream>> {
        Ok(stream)
    }

    async fn accepted(&self, stream: Box<dyn Stream>) -> io::Result<(Box<dyn Stream>, Option<NodeId>)> {
        Ok((stream, None))
    }
}

/// The largest frame a connection may carry before its hello is accepted.
/// A hello is under 100 bytes; this bounds what an unauthenticated peer
/// can make a node buffer.
pub const MAX_HELLO: usize = 256;

/// How a stream transport behaves.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// This node.
    pub id: NodeId,
    /// The cluster every peer must belong to.
    pub cluster_id: String,
    /// Every other member and its address.
    pub peers: BTreeMap<NodeId, String>,
    /// Frames queued per peer before sends get `Busy`.
    pub queue_frames: usize,
    /// Frames received and not yet taken by the node before more are dropped.
    pub inbox_frames: usize,
    /// Largest frame accepted or sent.
    pub max_frame: usize,
    /// First reconnect delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long a connect plus handshake may take.
    pub handshake_timeout: Duration,
    /// Seed of the reconnect jitter.
    pub seed: u64,
}

impl StreamConfig {
    /// Defaults for node `id` in `cluster_id` with `peers`.
    pub fn new(id: NodeId, cluster_id: impl Into<String>, peers: BTreeMap<NodeId, String>) -> Self {
        StreamConfig {
            id,
            cluster_id: cluster_id.into(),
            peers,
            queue_frames: 4096,
            inbox_frames: 1 << 16,
            max_frame: 64 << 20,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            seed: id.0,
        }
    }
}

/// Counters for status pages and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Outbound connections established.
    pub connects: u64,
    /// Connections refused or dropped for a protocol violation.
    pub rejected: u64,
    /// Frames dropped because a queue was full.
    pub dropped: u64,
}

/// The peers a transport serves now.
#[derive(Default)]
pub(crate) struct PeerSet {
    /// Configured peers and their addresses: only these may connect.
    pub addrs: BTreeMap<NodeId, String>,
    /// Peers whose traffic is dropped both ways (fault injection).
    pub blocked: BTreeSet<NodeId>,
}

/// What becomes of a frame from a connected peer.
pub(crate) enum Admit {
    /// Deliver it.
    Take,
    /// Lose it (a partition is being simulated).
    Drop,
    /// The peer was removed from the configuration: close its connection.
    Removed,
}

pub(crate) struct Shared {
    pub cfg: StreamConfig,
    pub codec: FrameCodec,
    /// The codec of the hello: frames up to [`MAX_HELLO`] bytes.
    pub hello_codec: FrameCodec,
    pub auth: Arc<dyn Authenticator>,
    pub runtime: Arc<dyn Runtime>,
    pub inbox: BoundedQueue<(NodeId, Frame)>,
    /// Peers whose dialed connection ended.
    pub lost: LostPeers,
    pub stats: Mutex<StreamStats>,
    /// Frames and bytes by peer.
    pub traffic: crate::transport::TrafficCounters,
    /// Who may connect, and whose traffic is dropped.
    pub peers: Mutex<PeerSet>,
    pub closed: Mutex<bool>,
    /// Fired when the transport closes, to wake tasks blocked elsewhere.
    pub stop: crate::signal::Signal,
}

impl Shared {
    pub fn is_closed(&self) -> bool {
        *lock(&self.closed)
    }

    pub fn is_blocked(&self, peer: NodeId) -> bool {
        lock(&self.peers).blocked.contains(&peer)
    }

    /// What to do with a frame that just came from `peer`.
    pub fn admit(&self, peer: NodeId) -> Admit {
        let peers = lock(&self.peers);
        if !peers.addrs.contains_key(&peer) {
            Admit::Removed
        } else if peers.blocked.contains(&peer) {
            Admit::Drop
        } else {
            Admit::Take
        }
    }

    pub fn count(&self, f: impl FnOnce(&mut StreamStats)) {
        f(&mut lock(&self.stats));
    }
}

/// The stream transport. See the [module docs](self).
pub struct StreamTransport {
    shared: Arc<Shared>,
    connector: Arc<dyn Connector>,
    /// Each peer's send queue and the address its dialer uses.
    links: Mutex<BTreeMap<NodeId, (String, BoundedQueue<Frame>)>>,
    /// Seeds the jitter of dialers started later.
    rng: Mutex<synod_core::rand::Rng>,
}

impl StreamTransport {
    /// Starts dialing every peer and accepting on `listener`, securing
    /// every connection with `auth`.
    pub fn start(
        cfg: StreamConfig,
        connector: Arc<dyn Connector>,
        listener: Box<dyn Listener>,
        runtime: Arc<dyn Runtime>,
        auth: Arc<dyn Authenticator>,
    ) -> Arc<StreamTransport> {
        let peers = cfg.peers.clone();
        let shared = Arc::new(Shared {
            codec: FrameCodec::new(cfg.max_frame),
            hello_codec: FrameCodec::new(MAX_HELLO),
            auth,
            inbox: BoundedQueue::new(cfg.inbox_frames),
            lost: LostPeers::new(),
            stats: Mutex::new(StreamStats::default()),
            traffic: crate::transport::TrafficCounters::new(cfg.peers.keys().copied()),
            peers: Mutex::new(PeerSet::default()),
            closed: Mutex::new(false),
            stop: crate::signal::Signal::new(),
            runtime: runtime.clone(),
            cfg,
        });
        let rng = Mutex::new(synod_core::rand::Rng::with_seed(shared.cfg.seed));
        let t = StreamTransport { shared: shared.clone(), connector, links: Mutex::new(BTreeMap::new()), rng };
        t.change_peers(&peers);
        runtime.spawn(Box::pin(inbound::accept_loop(shared, listener)));
        Arc::new(t)
    }

    /// Dials peers new or moved, stops dialing peers gone.
    fn change_peers(&self, peers: &BTreeMap<NodeId, String>) {
        let me = self.shared.cfg.id;
        let mut links = lock(&self.links);
        let gone: Vec<NodeId> =
            links.iter().filter(|(id, (addr, _))| peers.get(id) != Some(addr)).map(|(id, _)| *id).collect();
        for id in gone {
            if let Some((_, q)) = links.remove(&id) {
                // The dialer sees its queue closed and ends.
                q.close();
            }
        }
        for (peer, addr) in peers.iter().filter(|(id, _)| **id != me) {
            if links.contains_key(peer) {
                continue;
            }
            let q = BoundedQueue::new(self.shared.cfg.queue_frames);
            links.insert(*peer, (addr.clone(), q.clone()));
            let rng = lock(&self.rng).derive();
            let dial = outbound::Dialer::new(self.shared.clone(), self.connector.clone(), *peer, addr.clone(), q, rng);
            self.shared.runtime.spawn(Box::pin(dial.run()));
        }
        lock(&self.shared.peers).addrs =
            peers.iter().filter(|(id, _)| **id != me).map(|(i, a)| (*i, a.clone())).collect();
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        lock(&self.shared.stats).clone()
    }

    /// Drops all traffic to and from `peers` (and nothing else) until the
    /// next call: a network partition for fault-injection tests.
    pub fn block(&self, peers: impl IntoIterator<Item = NodeId>) {
        lock(&self.shared.peers).blocked = peers.into_iter().collect();
    }
}

#[async_trait]
impl Transport for StreamTransport {
    fn send(&self, to: NodeId, frame: Frame) -> Result<(), SendError> {
        let q = lock(&self.links).get(&to).map(|(_, q)| q.clone()).ok_or(SendError::UnknownPeer(to))?;
        if self.shared.is_blocked(to) {
            return Ok(()); // lost on the wire
        }
        match q.push(frame) {
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
            // One frame at a time keeps `recv` cancel-safe: nothing is
            // taken out of the inbox that is not returned.
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
        *lock(&self.shared.closed) = true;
        self.shared.stop.fire();
        self.shared.inbox.close();
        self.shared.lost.close();
        for (_, q) in lock(&self.links).values() {
            q.close();
        }
    }

    fn set_peers(&self, peers: &BTreeMap<NodeId, String>) -> Result<(), crate::transport::PeersError> {
        if !self.shared.is_closed() {
            self.change_peers(peers);
        }
        Ok(())
    }

    fn traffic(&self) -> Vec<crate::transport::PeerTraffic> {
        self.shared.traffic.totals()
    }
}
