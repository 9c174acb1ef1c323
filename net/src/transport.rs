//! How frames reach peers. Connections, handshakes, reconnects and write
//! batching live behind this trait; the node only queues and receives.

use crate::codec::Frame;
use async_trait::async_trait;
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

/// The node's view of the network.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Queues `frame` for `to`. Never blocks.
    fn send(&self, to: NodeId, frame: Frame) -> Result<(), SendError>;

    /// The next frame from any peer, with the peer's authenticated id;
    /// `None` once the transport is closed.
    async fn recv(&self) -> Option<(NodeId, Frame)>;

    /// Stops every connection.
    fn close(&self);
}
