//! The node: a [`Machine`] decides everything (the replica, the service,
//! client requests, forwarding, reads, snapshots, service ticks) with no
//! I/O; one driver task carries its inputs and outputs between the
//! transport, storage and clients. The simulator drives the same machine.
//!
//! ```text
//!   clients ──commands──▶ ┌─driver──────┐ ──frames──▶ transport ──▶ peers
//!   peers ──▶ transport ─▶│  Machine    │ ──batches─▶ storage task (group commit)
//!   timers ──────────────▶└─────────────┘ ◀─persisted─┘
//! ```
//!
//! Persist-before-send holds end to end: the replica only releases a
//! message once the storage task has reported the write it depends on.

mod discover;
mod driver;
mod handle;
mod machine;
mod requests;
mod routing;
mod storage;

pub use handle::NodeHandle;
pub use machine::{Machine, NodeOutput, Note};
pub use requests::Ticket;

use crate::runtime::Runtime;
use crate::store::{LogStore, StoreError};
use crate::transport::Transport;
use bytes::Bytes;
use futures::channel::mpsc;
use std::sync::Arc;
use synod_core::id::{LogIndex, NodeId, Term};
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
    /// The command for this tick.
    pub command: Arc<dyn Fn(TickTime) -> Bytes + Send + Sync>,
}

/// Told how long each group commit took to write and sync (and how many
/// batches it held): for metrics and slow-disk warnings. Called on the
/// storage task; it must not block.
#[derive(Clone)]
pub struct SyncObserver(pub Arc<dyn Fn(Duration, usize) + Send + Sync>);

impl core::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SyncObserver")
    }
}

/// What a leader knows of time when it ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickTime {
    /// The node's clock: meaningful only within this process.
    pub now: Instant,
    /// The leader's term (Multi-Paxos: ballot round).
    pub term: Term,
    /// Time on this node's clock since its previous tick in this term,
    /// zero for its first: what a service should count, since it means the
    /// same in every process.
    pub elapsed: Duration,
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
    /// Once storage takes more than this many bytes, commands that can
    /// grow the service's state are refused with
    /// [`ClientError::NoSpace`](crate::client::ClientError::NoSpace); reads
    /// and deletes go on (etcd's `--quota-backend-bytes`). `None`: no
    /// quota. A full file system has the same effect, quota or not.
    pub quota_bytes: Option<u64>,
    /// Record what the machine applies, restores and compacts in
    /// [`NodeOutput::notes`], for a harness to check (off in production).
    pub record: bool,
    /// This process's randomness: forwarded requests are numbered from
    /// it, so a reply a leader owed a previous process of this node cannot
    /// answer a request of this one. Drawn from the OS by default.
    pub seed: u64,
    /// Told the duration of every group commit.
    pub on_sync: Option<SyncObserver>,
    /// `Some`: the transport's peers follow the configuration in force
    /// (its members, at the addresses it records), and these addresses —
    /// the ones the node was started with — serve for members whose
    /// configuration records none and, until the node has a configuration
    /// at all (it is joining), as its peers. `None`: the caller fixed the
    /// transport's peers and the node never changes them.
    pub peers: Option<std::collections::BTreeMap<NodeId, String>>,
    /// The leader promotes a learner to voter by itself once the learner
    /// has everything committed (`synod node --auto-promote`); otherwise
    /// only an operator's `Promote` does.
    pub auto_promote: bool,
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
            quota_bytes: None,
            record: false,
            seed: os_seed(),
            on_sync: None,
            peers: None,
            auto_promote: false,
        }
    }
}

/// 64 bits from the OS (std seeds every `RandomState` from it).
pub fn os_seed() -> u64 {
    use core::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6e6f6465);
    h.finish()
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
    /// The node's disk: usage, quota and alarm.
    pub disk: DiskStatus,
    /// What happened since the node started.
    pub counters: NodeCounters,
    /// Frames and bytes exchanged with each peer (filled by the driver
    /// from its transport; empty from the bare machine).
    pub traffic: Vec<crate::transport::PeerTraffic>,
}

/// Totals since the node started, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeCounters {
    /// Times the leader this node knows of changed to another (known) one.
    pub leader_changes: u64,
    /// Elections this node started (as a candidate, past any pre-vote).
    pub elections_started: u64,
    /// Committed commands applied to the service here.
    pub commands_applied: u64,
    /// Snapshots this node took of its service.
    pub snapshots_taken: u64,
    /// Bytes of the snapshots it took.
    pub snapshot_bytes: u64,
    /// Requests of this process's clients answered with a result.
    pub requests_ok: u64,
    /// Requests of this process's clients answered with an error
    /// (timeout, leader changed, busy, no space, …).
    pub requests_failed: u64,
}

/// A node's disk, as its storage last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskStatus {
    /// Bytes the store takes, if it reports them.
    pub used_bytes: Option<u64>,
    /// The configured quota.
    pub quota_bytes: Option<u64>,
    /// Why growing commands are refused, if they are.
    pub alarm: Option<DiskAlarm>,
}

/// Why a node refuses commands that grow its state (etcd's NOSPACE alarm).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiskAlarm {
    /// Storage passed the configured quota.
    QuotaExceeded,
    /// The file system refused a write (full, or a quota of its own); the
    /// write is retried until it fits.
    Exhausted(String),
}

impl core::fmt::Display for DiskAlarm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DiskAlarm::QuotaExceeded => f.write_str("storage passed its quota"),
            DiskAlarm::Exhausted(e) => write!(f, "storage refused a write: {e}"),
        }
    }
}

/// What a node's handles can see without asking its driver, which may have
/// stopped: whether it stopped, and why.
#[derive(Default)]
pub(crate) struct Life {
    /// Set with `failure`: a front end asks before every command, and
    /// most of the time the answer is no, without a lock.
    failed: core::sync::atomic::AtomicBool,
    failure: std::sync::Mutex<Option<String>>,
    stopped: crate::signal::Signal,
}

impl Life {
    /// The driver stopped, after a fatal error if `failure`.
    pub(crate) fn stop(&self, failure: Option<String>) {
        if let Some(f) = failure {
            *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
            self.failed.store(true, core::sync::atomic::Ordering::Release);
        }
        self.stopped.fire();
    }

    pub(crate) fn failure(&self) -> Option<String> {
        if !self.failed.load(core::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn stopped(&self) -> crate::signal::Wait {
        self.stopped.wait()
    }
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
    let usage = store.usage();
    let (jobs_tx, jobs_rx) = mpsc::unbounded();
    let (reports_tx, reports_rx) = mpsc::unbounded();
    runtime.spawn(Box::pin(storage::run(store, jobs_rx, reports_tx, runtime.clone(), cfg.on_sync.clone())));
    let (tx, rx) = mpsc::channel(cfg.command_queue);
    let life = Arc::new(Life::default());
    let handle = NodeHandle::new(cfg.id, tx, runtime.clone(), cfg.request_timeout, life.clone());
    let mut machine = Machine::new(cfg, replica, service, runtime.now());
    machine.disk_usage(usage);
    let driver = driver::Driver::new(machine, transport, runtime.clone(), jobs_tx, life);
    runtime.spawn(Box::pin(driver.run(rx, reports_rx)));
    Ok(handle)
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, not(loom)))]
mod failover_tests;

#[cfg(all(test, not(loom)))]
mod membership_tests;

#[cfg(all(test, not(loom)))]
mod discover_tests;
