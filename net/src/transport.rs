//! How frames reach peers. Connections, handshakes, reconnects and write
//! batching live behind this trait; the node only queues and receives.

use crate::codec::Frame;
use crate::queue::BoundedQueue;
use async_trait::async_trait;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::BTreeMap;
use synod_core::id::NodeId;

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The peer's queue is full; the frame was dropped. Consensus
    /// retransmits, so this is back-pressure, not data loss.
    #[error("peer {0} queue full")]
    Busy(NodeId),
    /// No such peer is configured.
    #[error("unknown peer {0}")]
    UnknownPeer(NodeId),
    /// The transport was shut down.
    #[error("transport closed")]
    Closed,
}

/// Why the peer set could not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeersError {
    /// This transport's peers are fixed when it starts.
    #[error("this transport cannot change its peers while running")]
    Unsupported,
}

/// The node's view of the network.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Queues `frame` for `to`. Never blocks.
    fn send(&self, to: NodeId, frame: Frame) -> Result<(), SendError>;

    /// The next frame from any peer, with the peer's authenticated id;
    /// `None` once the transport is closed.
    async fn recv(&self) -> Option<(NodeId, Frame)>;

    /// The next peer whose connection was lost: frames already queued for
    /// it may never arrive, so a request it was asked to answer may never
    /// be. `None` once the transport is closed. A transport that cannot
    /// tell never returns, and the node falls back on terms and timeouts.
    /// Cancel-safe.
    async fn lost(&self) -> Option<NodeId> {
        futures::future::pending().await
    }

    /// Stops every connection.
    fn close(&self);

    /// Makes `peers` (id → address) the set of peers: connections to
    /// peers no longer named are closed, new peers are dialed, and a peer
    /// whose address changed is dialed at the new one. The cluster's
    /// configuration carries the addresses, so this follows membership
    /// changes at runtime.
    fn set_peers(&self, peers: &BTreeMap<NodeId, String>) -> Result<(), PeersError> {
        let _ = peers;
        Err(PeersError::Unsupported)
    }

    /// Frames and bytes exchanged with each peer since the transport
    /// started, for metrics; empty from a transport that does not count.
    fn traffic(&self) -> Vec<PeerTraffic> {
        Vec::new()
    }
}

/// What went to and came from one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerTraffic {
    /// The peer.
    pub peer: NodeId,
    /// Frames written to it.
    pub frames_sent: u64,
    /// Bytes of those frames, as encoded.
    pub bytes_sent: u64,
    /// Frames read from it.
    pub frames_received: u64,
    /// Bytes of those frames, as encoded.
    pub bytes_received: u64,
}

/// Running [`PeerTraffic`] totals a transport keeps: one set of atomics
/// per peer, which a connection takes once ([`TrafficCounters::of`]) so
/// that counting takes no lock on the paths every frame travels. A peer's
/// totals outlive its removal: counters only go up.
#[derive(Default)]
pub struct TrafficCounters(std::sync::Mutex<BTreeMap<NodeId, std::sync::Arc<PeerCounts>>>);

/// One peer's running totals.
#[derive(Default)]
pub struct PeerCounts {
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
}

impl TrafficCounters {
    /// Zero for each of `peers`.
    pub fn new(peers: impl IntoIterator<Item = NodeId>) -> Self {
        let counters = TrafficCounters::default();
        for p in peers {
            counters.of(p);
        }
        counters
    }

    /// `peer`'s totals, to keep for the life of a connection.
    pub fn of(&self, peer: NodeId) -> std::sync::Arc<PeerCounts> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(peer).or_default().clone()
    }

    /// The totals, by peer.
    pub fn totals(&self) -> Vec<PeerTraffic> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(peer, c)| PeerTraffic {
                peer: *peer,
                frames_sent: c.frames_sent.load(Ordering::Relaxed),
                bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
                frames_received: c.frames_received.load(Ordering::Relaxed),
                bytes_received: c.bytes_received.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl PeerCounts {
    /// `frames` frames of `bytes` bytes in all were sent.
    pub fn sent(&self, frames: usize, bytes: usize) {
        self.frames_sent.fetch_add(frames as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// One frame of `bytes` bytes was received.
    pub fn received(&self, bytes: usize) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Notices of lost connections, for [`Transport::lost`]. Bounded: a notice
/// that does not fit is dropped, and the request timeout still ends what
/// it would have ended sooner.
#[derive(Clone)]
pub struct LostPeers(BoundedQueue<NodeId>);

impl LostPeers {
    /// Room for this many notices not yet taken.
    const CAP: usize = 256;

    /// No notices yet.
    pub fn new() -> Self {
        LostPeers(BoundedQueue::new(Self::CAP))
    }

    /// The connection to `peer` was lost.
    pub fn report(&self, peer: NodeId) {
        let _ = self.0.push(peer);
    }

    /// The next notice; `None` once closed. Cancel-safe: one notice at a
    /// time is taken, and only when returned.
    pub async fn next(&self) -> Option<NodeId> {
        loop {
            if let Some(p) = self.0.try_pop() {
                return Some(p);
            }
            if !self.0.wait_nonempty().await {
                return None;
            }
        }
    }

    /// Ends [`next`](Self::next) with `None`.
    pub fn close(&self) {
        self.0.close();
    }
}

impl Default for LostPeers {
    fn default() -> Self {
        Self::new()
    }
}
