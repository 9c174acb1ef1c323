//! How a QUIC transport behaves.

use std::collections::BTreeMap;
use synod_core::id::NodeId;
use synod_core::time::Duration;

/// The settings of a [`QuicTransport`](crate::QuicTransport).
#[derive(Clone, Debug)]
pub struct QuicConfig {
    /// This node.
    pub id: NodeId,
    /// The cluster every peer must belong to (the synod hello's cluster id;
    /// it must also be the cluster the certificates were issued for).
    pub cluster_id: String,
    /// Every other member and its address (`host:port`, UDP).
    pub peers: BTreeMap<NodeId, String>,
    /// Frames queued per peer for each of the control, replication and
    /// client classes before sends get `Busy`.
    pub queue_frames: usize,
    /// Snapshot chunks queued per peer (they are large).
    pub snapshot_queue_frames: usize,
    /// Frames received and not yet taken by the node before more are dropped.
    pub inbox_frames: usize,
    /// Largest frame accepted or sent.
    pub max_frame: usize,
    /// First reconnect delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long the QUIC and TLS handshake plus the synod hello may take.
    pub handshake_timeout: Duration,
    /// How often an idle connection is pinged.
    pub keep_alive: Duration,
    /// How long a silent connection lives (a crashed peer is noticed after this).
    pub idle_timeout: Duration,
    /// Seed of the reconnect jitter.
    pub seed: u64,
}

impl QuicConfig {
    /// Defaults for node `id` in `cluster_id` with `peers`.
    pub fn new(id: NodeId, cluster_id: impl Into<String>, peers: BTreeMap<NodeId, String>) -> Self {
        QuicConfig {
            id,
            cluster_id: cluster_id.into(),
            peers,
            queue_frames: 4096,
            snapshot_queue_frames: 64,
            inbox_frames: 1 << 16,
            max_frame: 64 << 20,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            seed: id.0,
        }
    }

    /// The peers that dial this node: those with a lower id. Of every pair
    /// of nodes, the lower id dials and the higher accepts, so there is one
    /// connection per pair.
    pub fn dialers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.keys().copied().filter(|p| *p < self.id)
    }
}

/// Counters for status pages and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuicStats {
    /// Connections that completed the handshake, dialed or accepted.
    pub connects: u64,
    /// Connections refused or cut for a TLS, identity or protocol failure.
    pub rejected: u64,
    /// Frames dropped because a queue was full.
    pub dropped: u64,
    /// Why the last connection was refused or cut, for diagnosis.
    pub last_rejection: Option<String>,
}
