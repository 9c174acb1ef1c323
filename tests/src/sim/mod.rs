//! A deterministic simulator for any [`Replica`]: N nodes on a virtual
//! clock, a seeded network that drops, duplicates, delays and partitions,
//! disks that lose unsynced writes in crashes (and, rarely, a whole log),
//! drifting clocks that start a new epoch with every process, closed-loop
//! KV clients whose history is checked for linearizability, and lock
//! clients whose grants are checked on true time. One seed determines everything, so a failure replays
//! bit for bit with its trace.

pub mod canary;
mod client;
pub mod disk;
mod faults;
pub(crate) mod invariants;
pub(crate) mod locks;
mod members;
mod node;
mod outputs;
mod read_back;
mod sessions;
mod trace;
mod world;

pub use invariants::Violation;
pub use world::World;

use synod_core::id::NodeId;
use synod_core::paxos::multi::{self, MultiPaxos};
use synod_core::raft::{Config as RaftConfig, Raft, ReadMode};
use synod_core::rand::Rng;
use synod_core::replica::{Membership, Recovered, Replica};
use synod_core::time::{Duration, Instant};

/// Which protocol the nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Raft.
    Raft,
    /// Raft behind [`canary::EagerAck`]: acknowledges writes before they
    /// are durable. Campaigns must report violations for it.
    CanaryEagerAck,
    /// Multi-Paxos.
    MultiPaxos,
    /// Multi-Paxos behind [`canary::EagerAck`]: the value-based checks
    /// must catch it too.
    CanaryEagerAckMultiPaxos,
}

impl Protocol {
    /// The name `--protocol` takes.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Raft => "raft",
            Protocol::CanaryEagerAck => "canary-eager-ack",
            Protocol::MultiPaxos => "multi-paxos",
            Protocol::CanaryEagerAckMultiPaxos => "canary-eager-ack-multi-paxos",
        }
    }

    /// Whether the protocol promises Raft's Log Matching property (equal
    /// index and term, equal prefix) and keeps an entry's term for good
    /// once committed. Multi-Paxos does neither: slots are independent,
    /// and a new leader re-proposes a chosen value under its own ballot,
    /// so invariants compare values instead.
    pub fn log_matching(self) -> bool {
        !matches!(self, Protocol::MultiPaxos | Protocol::CanaryEagerAckMultiPaxos)
    }
}

impl core::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raft" => Ok(Protocol::Raft),
            "canary-eager-ack" => Ok(Protocol::CanaryEagerAck),
            "multi-paxos" => Ok(Protocol::MultiPaxos),
            "canary-eager-ack-multi-paxos" => Ok(Protocol::CanaryEagerAckMultiPaxos),
            other => Err(format!(
                "unknown protocol {other:?} (expected: raft, multi-paxos, canary-eager-ack, canary-eager-ack-multi-paxos)"
            )),
        }
    }
}

/// A fault planted on purpose, so that a campaign shows the check it is
/// named after has teeth (STYLE habit 10). Each variant names the property
/// (`Violation::property`) it must trip; `tests/tests/sim_canaries.rs`
/// asserts that it does. Faults said to strike "node 1" leave every other
/// node correct; "once" means once per process. "One lock holder at a time
/// (true time)" has its canary in [`SimConfig::canary_old_time_base`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canary {
    /// "one leader per term" (Raft), "leaders own their ballot"
    /// (Multi-Paxos): a follower that learns of its leader announces
    /// itself leader of the same term (ballot).
    FalseLeader,
    /// "leader completeness": Raft voters grant without the up-to-date
    /// check (§5.4.1); Multi-Paxos acceptors promise without reporting the
    /// values they accepted (P2c), so a candidate missing chosen entries wins.
    BlindVotes,
    /// "state-machine safety": node 1 hands out one committed entry, once,
    /// with its data altered.
    CorruptApply,
    /// "log matching" (Raft only): node 1 writes one entry to its disk,
    /// once, with its data altered.
    CorruptWrite,
    /// "storage contract" (Raft only): after a compaction, storage is told
    /// to put an empty snapshot back under the log that remains, so the
    /// durable log no longer continues its snapshot.
    SnapshotHole,
    /// "snapshot agreement": node 1 snapshots its service as it was three
    /// commands before the index it labels the snapshot with.
    LaggingSnapshot,
    /// "apply in order": a committed entry is handed out twice, once.
    DuplicateApply,
    /// "commit index never goes back": replicas report every commit index
    /// that is 3 mod 4 (from 11 on) two lower than it is.
    CommitStepsBack,
    /// "a correct node keeps running": snapshots lose their last byte, so
    /// a node that restores one stops.
    TruncatedSnapshot,
    /// "no early lease expiry": a tick that finds a lease due within one
    /// tick interval ends that lease instead of moving time.
    EarlyLeaseExpiry,
    /// "lock held under a live lease": the lock table the service shows is
    /// the one from before each apply, so a lock outlives its lease's end.
    StaleLockTable,
    /// "fencing tokens increase": a lock handed on to a waiter shows the
    /// previous holder's token.
    ReusedToken,
    /// "linearizable history": reads are answered from the state as of the
    /// last tick, missing writes acknowledged since.
    StaleReads,
    /// "linearizable history", exactly once: the clients that number
    /// their writes in a session send them, retries included, without it —
    /// a plain retry, which may apply a write twice.
    PlainRetries,
    /// "liveness": every process drops all its outgoing protocol messages
    /// once it has run for 500 ms.
    Mute,
    /// "linearizable history", transactions: the reads inside a transaction
    /// are answered from the state before it, missing its own writes.
    TornTransactions,
    /// Raft only, with membership changes on: a leader puts the new
    /// configuration in force at once instead of going through the joint
    /// phase (thesis §4.3), so replacing a voter splits the cluster into
    /// halves with disjoint majorities. (On Multi-Paxos the barrier and
    /// phase 1 across configurations leave a direct change unsafe only in
    /// a narrow case the campaigns do not reach: see RELIABILITY.md.)
    SkipJoint,
    /// Multi-Paxos only, with membership changes on: a candidate needs a
    /// promise quorum of the configuration chosen at its commit index
    /// only, not of the configurations it finds among the recovered
    /// values, so one that missed a change is elected by the old voters.
    OneConfigPhase1,
    /// "state-machine safety": the disk reads one entry back with its data
    /// altered (index and term intact, so the replica cannot tell), in the
    /// runs whose replicas keep only a tail of the log in memory.
    CorruptReadBack,
}

impl Canary {
    /// Every canary.
    pub const ALL: [Canary; 19] = [
        Canary::FalseLeader,
        Canary::BlindVotes,
        Canary::CorruptApply,
        Canary::CorruptWrite,
        Canary::SnapshotHole,
        Canary::LaggingSnapshot,
        Canary::DuplicateApply,
        Canary::CommitStepsBack,
        Canary::TruncatedSnapshot,
        Canary::EarlyLeaseExpiry,
        Canary::StaleLockTable,
        Canary::ReusedToken,
        Canary::StaleReads,
        Canary::PlainRetries,
        Canary::Mute,
        Canary::TornTransactions,
        Canary::SkipJoint,
        Canary::OneConfigPhase1,
        Canary::CorruptReadBack,
    ];

    /// The name `--canary` takes.
    pub fn name(self) -> &'static str {
        match self {
            Canary::FalseLeader => "false-leader",
            Canary::BlindVotes => "blind-votes",
            Canary::CorruptApply => "corrupt-apply",
            Canary::CorruptWrite => "corrupt-write",
            Canary::SnapshotHole => "snapshot-hole",
            Canary::LaggingSnapshot => "lagging-snapshot",
            Canary::DuplicateApply => "duplicate-apply",
            Canary::CommitStepsBack => "commit-steps-back",
            Canary::TruncatedSnapshot => "truncated-snapshot",
            Canary::EarlyLeaseExpiry => "early-lease-expiry",
            Canary::StaleLockTable => "stale-lock-table",
            Canary::ReusedToken => "reused-token",
            Canary::StaleReads => "stale-reads",
            Canary::PlainRetries => "plain-retries",
            Canary::Mute => "mute",
            Canary::TornTransactions => "torn-transactions",
            Canary::SkipJoint => "skip-joint",
            Canary::OneConfigPhase1 => "one-config-phase-1",
            Canary::CorruptReadBack => "corrupt-read-back",
        }
    }

    /// Whether the fault means anything for `protocol`: the storage-chain
    /// faults are caught only where Log Matching is checked, and would
    /// otherwise leave a disk that Multi-Paxos refuses to recover.
    pub fn applies_to(self, protocol: Protocol) -> bool {
        match self {
            Canary::CorruptWrite | Canary::SnapshotHole => protocol.log_matching(),
            Canary::SkipJoint => protocol == Protocol::Raft,
            Canary::OneConfigPhase1 => protocol == Protocol::MultiPaxos,
            _ => true,
        }
    }

    /// Whether the fault can strike only in a campaign with membership
    /// changes ([`SimConfig::membership_changes`]).
    pub fn needs_membership_changes(self) -> bool {
        matches!(self, Canary::SkipJoint | Canary::OneConfigPhase1)
    }
}

impl core::str::FromStr for Canary {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Canary::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Canary::ALL.iter().map(|c| c.name()).collect();
            format!("unknown canary {s:?} (expected one of: {})", names.join(", "))
        })
    }
}

/// What a run looks like; per-seed details (cluster size, timeouts,
/// limits, clock drift) are drawn from the seed.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The protocol.
    pub protocol: Protocol,
    /// Clients issuing KV operations (recorded and checked for
    /// linearizability).
    pub clients: usize,
    /// Clients cycling through lease, acquire, hold, release.
    pub lock_clients: usize,
    /// Size of the key space.
    pub keys: u64,
    /// Virtual time with faults.
    pub fault_time: Duration,
    /// Virtual time after healing in which progress must resume.
    pub liveness_time: Duration,
    /// Keep a readable trace of the last events.
    pub trace: bool,
    /// Run the linearizability checker on the history.
    pub check_history: bool,
    /// Canary: leaders propose their clock's reading as log time (the
    /// time base before issue 21) instead of elapsed durations. With
    /// fresh clock epochs on restart, leases end early on true time and
    /// campaigns must report it.
    pub canary_old_time_base: bool,
    /// Canary: a node whose disk lost its log starts anyway, empty,
    /// instead of being refused. Campaigns must report it.
    pub canary_amnesia: bool,
    /// A planted fault ([`Canary`]); `None` in every real campaign.
    pub canary: Option<Canary>,
    /// Two spare nodes start empty, and the fault schedule also adds
    /// learners, promotes them, swaps voters for them and removes voters,
    /// through the leader's
    /// node machine as an operator would (Raft only for now: Multi-Paxos
    /// refuses every step).
    pub membership_changes: bool,
}

impl SimConfig {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        SimConfig {
            protocol,
            clients: 5,
            lock_clients: 3,
            keys: 4,
            fault_time: Duration::from_secs(3),
            liveness_time: Duration::from_secs(3),
            trace: false,
            check_history: true,
            canary_old_time_base: false,
            canary_amnesia: false,
            canary: None,
            membership_changes: false,
        }
    }
}

/// Per-seed parameters of the cluster.
#[derive(Clone, Debug)]
pub struct Params {
    /// Cluster size.
    pub nodes: usize,
    /// The Raft configuration template (id and seed are set per node).
    pub raft: RaftConfig,
    /// The Multi-Paxos configuration template, with the same timeouts,
    /// limits and read mode as `raft`.
    pub paxos: multi::Config,
    /// Largest clock drift, ppm.
    pub max_ppm: i64,
    /// Entries between snapshots.
    pub snapshot_every: u64,
    /// fsync latency range, ns.
    pub sync_latency: (u64, u64),
    /// Chance that a new leader is crashed moments after winning (during
    /// the fault phase): the Raft Figure 8 shape, where an old leader's
    /// entries sit on some nodes and not others.
    pub leader_crash: f64,
}

impl Params {
    /// Draws the parameters of a run from its seed.
    pub fn draw(rng: &mut Rng) -> Params {
        let nodes = if rng.chance(0.6) { 3 } else { 5 };
        let mut raft = RaftConfig::new(NodeId(0), 0);
        raft.election_timeout = Duration::from_millis(150);
        raft.heartbeat_interval = Duration::from_millis(30);
        let max_ppm = rng.range(0, 5_000) as i64;
        if rng.chance(0.5) {
            // Two clocks diverge by at most 2 * ppm over an election timeout.
            let bound = Duration::from_nanos(2 * max_ppm as u64 * 150_000_000 / 1_000_000 + 1_000_000);
            raft.read_mode = ReadMode::Lease { max_clock_drift: bound };
        }
        // One entry per append in some runs, so a new leader's old entries
        // and its no-op travel apart.
        raft.max_append_entries = if rng.chance(0.3) { 1 } else { rng.range(1, 64) as usize };
        raft.max_inflight_msgs = rng.range(1, 16) as usize;
        raft.snapshot_chunk_bytes = rng.range(16, 1024) as usize;
        raft.pre_vote = rng.chance(0.8);
        // Derived, not drawn, so adding a protocol changes no Raft seed.
        let mut paxos = multi::Config::new(NodeId(0), 0);
        paxos.election_timeout = raft.election_timeout;
        paxos.heartbeat_interval = raft.heartbeat_interval;
        paxos.read_mode = raft.read_mode;
        paxos.max_batch_entries = raft.max_append_entries;
        paxos.max_inflight_batches = raft.max_inflight_msgs;
        paxos.snapshot_chunk_bytes = raft.snapshot_chunk_bytes;
        Params {
            nodes,
            raft,
            paxos,
            max_ppm,
            snapshot_every: rng.range(10, 200),
            sync_latency: (rng.range(10_000, 200_000), rng.range(500_000, 5_000_000)),
            leader_crash: [0.0, 0.0, 0.2, 0.5][rng.below(4) as usize],
        }
    }
}

/// Builds a replica of `protocol` from what its disk recovered.
#[allow(clippy::too_many_arguments)]
pub fn make_replica(
    protocol: Protocol,
    params: &Params,
    id: NodeId,
    now: Instant,
    recovered: Recovered,
    membership: Membership,
    seed: u64,
    canary: Option<Canary>,
) -> Box<dyn Replica + Send> {
    let paxos = |recovered, membership| {
        let mut cfg: multi::Config = params.paxos.clone();
        cfg.id = id;
        cfg.seed = seed;
        let mut p = MultiPaxos::new(cfg, now, recovered, membership).expect("simulated storage recovers a valid log");
        match canary {
            Some(Canary::OneConfigPhase1) => p.plant_one_config_phase1(),
            Some(Canary::SkipJoint) => p.plant_joint_skip(),
            _ => {}
        }
        Box::new(p)
    };
    let raft = |recovered, membership| {
        let mut cfg = params.raft.clone();
        cfg.id = id;
        cfg.seed = seed;
        let mut r = Raft::new(cfg, now, recovered, membership).expect("simulated storage recovers a valid log");
        if canary == Some(Canary::SkipJoint) {
            r.plant_joint_skip();
        }
        Box::new(r)
    };
    match protocol {
        Protocol::Raft => raft(recovered, membership),
        Protocol::CanaryEagerAck => Box::new(canary::EagerAck(raft(recovered, membership))),
        Protocol::MultiPaxos => paxos(recovered, membership),
        Protocol::CanaryEagerAckMultiPaxos => Box::new(canary::EagerAck(paxos(recovered, membership))),
    }
}

/// Counts of what a run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Events processed.
    pub steps: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Client requests a node forwarded to the leader, delivered.
    pub forwarded: u64,
    /// Forwarded requests taken back because leadership moved.
    pub leader_changed: u64,
    /// Crashes injected (each node of a whole-cluster crash counts).
    pub crashes: u64,
    /// Whole-cluster crashes injected.
    pub cluster_crashes: u64,
    /// Partitions injected.
    pub partitions: u64,
    /// Network weather changes.
    pub weather: u64,
    /// Leadership transfers requested.
    pub transfers: u64,
    /// Operations completed with an answer.
    pub ops_ok: u64,
    /// Operations refused before taking effect.
    pub ops_failed: u64,
    /// Operations that timed out.
    pub ops_unknown: u64,
    /// Sends of a sessioned write again after no answer (the operation
    /// stays one, applied at most once).
    pub ops_retried: u64,
    /// Transactions answered (each one entry of several operations).
    pub transactions: u64,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Lock grants a holder acted on (admitted by the fenced resource).
    pub lock_actions: u64,
    /// Actions the resource refused as coming from a stale holder.
    pub stale_holders: u64,
    /// Leaders elected.
    pub elections: u64,
    /// Locks granted to a client (each checked against every other
    /// client's belief, on true time).
    pub lock_grants: u64,
    /// Disks that lost their log (the identity kept).
    pub disk_losses: u64,
    /// Restarts refused because the log was lost.
    pub refused_starts: u64,
    /// Membership steps asked of a leader (add, promote, remove).
    pub member_steps: u64,
    /// Of those, replacements of a voter by a learner.
    pub member_replacements: u64,
    /// Entries read back from disk for a lagging peer (requests).
    pub log_reads: u64,
    /// Of those, reads the disk failed.
    pub log_reads_failed: u64,
    /// Of those, answers the replica refused (a snapshot took the entries).
    pub log_reads_refused: u64,
    /// Runs whose replicas kept only a tail of the log in memory.
    pub tail_runs: u64,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Stats) {
        self.steps += o.steps;
        self.delivered += o.delivered;
        self.forwarded += o.forwarded;
        self.leader_changed += o.leader_changed;
        self.crashes += o.crashes;
        self.cluster_crashes += o.cluster_crashes;
        self.partitions += o.partitions;
        self.weather += o.weather;
        self.transfers += o.transfers;
        self.ops_ok += o.ops_ok;
        self.ops_failed += o.ops_failed;
        self.ops_unknown += o.ops_unknown;
        self.ops_retried += o.ops_retried;
        self.transactions += o.transactions;
        self.snapshots += o.snapshots;
        self.lock_actions += o.lock_actions;
        self.stale_holders += o.stale_holders;
        self.elections += o.elections;
        self.lock_grants += o.lock_grants;
        self.disk_losses += o.disk_losses;
        self.refused_starts += o.refused_starts;
        self.member_steps += o.member_steps;
        self.member_replacements += o.member_replacements;
        self.log_reads += o.log_reads;
        self.log_reads_failed += o.log_reads_failed;
        self.log_reads_refused += o.log_reads_refused;
        self.tail_runs += o.tail_runs;
    }
}

/// The outcome of one seed.
#[derive(Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Its parameters.
    pub params: Params,
    /// What happened.
    pub stats: Stats,
    /// The first property broken, if any.
    pub violation: Option<Violation>,
    /// The last events, if tracing.
    pub trace: Vec<String>,
}

/// Runs one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Report {
    let mut w = World::new(seed, cfg.clone());
    w.run();
    w.report()
}
