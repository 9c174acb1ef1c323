//! The node: one task owns a replica and a service and carries their
//! inputs and outputs between the transport, storage and clients.
//!
//! ```text
//!   clients ──commands──▶ ┌──────────┐ ──frames──▶ transport ──▶ peers
//!   peers ──▶ transport ─▶│  driver  │ ──batches─▶ storage task (group commit)
//!   timers ──────────────▶└──────────┘ ◀─persisted─┘
//! ```
//!
//! Persist-before-send holds end to end: the replica only releases a
//! message once the storage task has reported the write it depends on.

mod driver;
mod handle;
mod requests;
mod storage;

pub use handle::NodeHandle;

use crate::runtime::Runtime;
use crate::store::{LogStore, StoreError};
use crate::transport::Transport;
use bytes::Bytes;
use futures::channel::mpsc;
use std::sync::Arc;
use synod_core::id::{LogIndex, NodeId};
use synod_core::replica::{PeerStatus, Recovered, Replica, Status};
use synod_core::service::Service;
use synod_core::time::{Duration, Instant};

/// Builds the replica from what storage recovered, at time `now`.
pub type ReplicaFactory = Box<dyn FnOnce(Instant, Recovered) -> Result<Box<dyn Replica + Send>, String> + Send>;

/// A service command the leader proposes periodically, e.g. the passage of
/// time for leases.
#[derive(Clone)]
pub struct ServiceTick {
    /// How often.
    pub every: Duration,
    /// The command for time `now`.
    pub command: Arc<dyn Fn(Instant) -> Bytes + Send + Sync>,
}

impl core::fmt::Debug for ServiceTick {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServiceTick").field("every", &self.every).finish_non_exhaustive()
    }
}

/// How a node behaves.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node.
    pub id: NodeId,
    /// How long a handle waits for an answer, and how long a forwarded or
    /// parked request may wait for a leader.
    pub request_timeout: Duration,
    /// Client requests in flight before new ones get `Busy`.
    pub max_in_flight: usize,
    /// Snapshot the service every this many applied entries (0: never).
    pub snapshot_every: u64,
    /// Capacity of the client command queue.
    pub command_queue: usize,
    /// A periodic command the leader proposes.
    pub service_tick: Option<ServiceTick>,
}

impl NodeConfig {
    /// Defaults for node `id`.
    pub fn new(id: NodeId) -> Self {
        NodeConfig {
            id,
            request_timeout: Duration::from_secs(5),
            max_in_flight: 16 << 10,
            snapshot_every: 10_000,
            command_queue: 4096,
            service_tick: None,
        }
    }
}

/// A node's view of itself and its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The replica's status.
    pub replica: Status,
    /// The leader's view of its peers (empty elsewhere).
    pub peers: Vec<PeerStatus>,
    /// Highest index applied to the service.
    pub applied: LogIndex,
    /// Client requests in flight.
    pub in_flight: usize,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Storage could not be read.
    #[error("loading storage: {0}")]
    Store(#[from] StoreError),
    /// The replica refused what storage held.
    #[error("building the replica: {0}")]
    Replica(String),
    /// The service could not restore the stored snapshot.
    #[error("restoring the service: {0}")]
    Service(String),
}

/// Starts a node: loads storage, builds the replica, restores the service
/// and spawns the driver and storage tasks on `runtime`.
pub async fn start(
    cfg: NodeConfig,
    mut store: Box<dyn LogStore>,
    make_replica: ReplicaFactory,
    service: Box<dyn Service + Send>,
    transport: Arc<dyn Transport>,
    runtime: Arc<dyn Runtime>,
) -> Result<NodeHandle, StartError> {
    let recovered = store.load().await?;
    let replica = make_replica(runtime.now(), recovered).map_err(StartError::Replica)?;
    let (batches_tx, batches_rx) = mpsc::unbounded();
    let (acks_tx, acks_rx) = mpsc::unbounded();
    runtime.spawn(Box::pin(storage::run(store, batches_rx, acks_tx)));
    let (tx, rx) = mpsc::channel(cfg.command_queue);
    let handle = NodeHandle::new(cfg.id, tx, runtime.clone(), cfg.request_timeout);
    let driver = driver::Driver::new(cfg, replica, service, transport, runtime.clone(), batches_tx);
    runtime.spawn(Box::pin(driver.run(rx, acks_rx)));
    Ok(handle)
}

#[cfg(all(test, not(loom)))]
mod tests;
