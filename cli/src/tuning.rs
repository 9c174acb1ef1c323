//! The node's timing and replication knobs: one flag each, the same key in
//! the `[tuning]` table of `synod node`'s file, one precedence rule (flag
//! over file over default), checked together at start.

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use synod_core::id::NodeId;
use synod_core::paxos::multi::Config as MultiPaxosConfig;
use synod_core::raft::Config as RaftConfig;
use synod_core::replica::ReadMode;
use synod_core::time::Duration;

/// How a leader makes a read linearizable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadModeOpt {
    /// A quorum round confirms leadership before each batch of reads
    /// (Raft thesis §6.4): safe under any clock behaviour.
    ReadIndex,
    /// Reads served while the leader's lease holds (thesis §6.4.1): no
    /// round trip, safe only while clocks drift less than
    /// `--max-clock-drift-ms` over one election timeout. The default: the
    /// nodes' monotonic clocks drift by parts per million, the bound
    /// allows a tenth.
    #[default]
    Lease,
}

impl ReadModeOpt {
    /// The name flags and files use.
    pub fn name(self) -> &'static str {
        match self {
            ReadModeOpt::ReadIndex => "read-index",
            ReadModeOpt::Lease => "lease",
        }
    }
}

/// Which node serves a connection's reads (until it sends `READONLY` or
/// `READWRITE`). Both are linearizable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadsAt {
    /// The leader answers (a read sent to a follower is passed on to it).
    #[default]
    Leader,
    /// The node the client is connected to answers from its own state,
    /// once it has applied the index the leader confirms (Raft thesis
    /// §6.4): reads spread over the members, the leader sends an index
    /// instead of the value.
    ThisNode,
}

impl ReadsAt {
    /// The name flags, files and `INFO` use.
    pub fn name(self) -> &'static str {
        match self {
            ReadsAt::Leader => "leader",
            ReadsAt::ThisNode => "this-node",
        }
    }
}

/// The knobs as given: flags, or keys of the file's `[tuning]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TuningOpts {
    /// Minimum election timeout in milliseconds; each election waits a
    /// random time up to twice this [default: 500].
    #[arg(long)]
    pub election_timeout_ms: Option<u64>,
    /// Leader heartbeat interval in milliseconds; at most a fifth of the
    /// election timeout [default: 50].
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// How long a client request may wait for its answer before it fails
    /// with a timeout, in milliseconds [default: 5000].
    #[arg(long)]
    pub request_timeout_ms: Option<u64>,
    /// How often the leader proposes the store's clock tick (lease and
    /// lock expiry advance in these steps), in milliseconds [default: 100].
    #[arg(long)]
    pub service_tick_ms: Option<u64>,
    /// Async runtime worker threads [default: 2].
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Seed of the replicas' random election timeouts, to replay a run
    /// [default: drawn from the OS and logged at start].
    #[arg(long)]
    pub seed: Option<u64>,
    /// How linearizable reads are served [default: lease].
    #[arg(long, value_enum)]
    pub read_mode: Option<ReadModeOpt>,
    /// With `--read-mode lease`: the most two nodes' clocks may drift
    /// apart over one election timeout, in milliseconds [default: a tenth
    /// of the election timeout].
    #[arg(long)]
    pub max_clock_drift_ms: Option<u64>,
    /// Which node serves a connection's reads until it sends `READONLY`
    /// (this node) or `READWRITE` (the leader) [default: leader].
    #[arg(long, value_enum)]
    pub reads_at: Option<ReadsAt>,
    /// Applied log entries a replica keeps in memory for followers that
    /// lag; older ones are read back from the data directory when a
    /// follower needs them, so memory holds a tail of the log, not a
    /// second copy of it [default: 4096].
    #[arg(long)]
    pub retained_entries: Option<u64>,
}

impl TuningOpts {
    /// These flags over `file`'s settings.
    pub fn over(self, file: TuningOpts) -> TuningOpts {
        TuningOpts {
            election_timeout_ms: self.election_timeout_ms.or(file.election_timeout_ms),
            heartbeat_ms: self.heartbeat_ms.or(file.heartbeat_ms),
            request_timeout_ms: self.request_timeout_ms.or(file.request_timeout_ms),
            service_tick_ms: self.service_tick_ms.or(file.service_tick_ms),
            worker_threads: self.worker_threads.or(file.worker_threads),
            seed: self.seed.or(file.seed),
            read_mode: self.read_mode.or(file.read_mode),
            max_clock_drift_ms: self.max_clock_drift_ms.or(file.max_clock_drift_ms),
            reads_at: self.reads_at.or(file.reads_at),
            retained_entries: self.retained_entries.or(file.retained_entries),
        }
    }

    /// The effective knobs: defaults filled in, the seed drawn if none was
    /// given, everything checked together.
    pub fn resolve(&self) -> Result<Tuning, String> {
        let election_timeout_ms = self.election_timeout_ms.unwrap_or(500);
        let t = Tuning {
            election_timeout_ms,
            heartbeat_ms: self.heartbeat_ms.unwrap_or(50),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(5000),
            service_tick_ms: self.service_tick_ms.unwrap_or(100),
            worker_threads: self.worker_threads.unwrap_or(2),
            seed: self.seed.unwrap_or_else(synod_net::node::os_seed),
            seed_given: self.seed.is_some(),
            read_mode: self.read_mode.unwrap_or_default(),
            max_clock_drift_ms: self.max_clock_drift_ms.unwrap_or(election_timeout_ms / 10),
            reads_at: self.reads_at.unwrap_or_default(),
            retained_entries: self.retained_entries.unwrap_or(DEFAULT_RETAINED_ENTRIES),
        };
        t.check()?;
        Ok(t)
    }
}

/// The effective knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Minimum election timeout, ms.
    pub election_timeout_ms: u64,
    /// Heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Client request timeout, ms.
    pub request_timeout_ms: u64,
    /// Store clock tick, ms.
    pub service_tick_ms: u64,
    /// Runtime worker threads.
    pub worker_threads: usize,
    /// The process's replica seed.
    pub seed: u64,
    /// The seed came from the operator, not the OS.
    pub seed_given: bool,
    /// Read mode.
    pub read_mode: ReadModeOpt,
    /// Clock drift bound for lease reads, ms.
    pub max_clock_drift_ms: u64,
    /// Which node serves a connection's reads by default.
    pub reads_at: ReadsAt,
    /// Applied entries kept in memory for lagging followers.
    pub retained_entries: u64,
}

/// Applied entries a replica keeps in memory by default: a few appends'
/// worth, so a follower that lags briefly is served from memory.
const DEFAULT_RETAINED_ENTRIES: u64 = 4096;

/// An election timeout longer than this is a typo, not a setting (etcd
/// caps its own at 50 s for the same reason).
const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;

impl Tuning {
    fn check(&self) -> Result<(), String> {
        let (e, h) = (self.election_timeout_ms, self.heartbeat_ms);
        if h == 0 {
            return Err("--heartbeat-ms must be at least 1".into());
        }
        // A follower that misses a few heartbeats in a row must not start
        // an election: five per timeout is etcd's rule too.
        if e < 5 * h {
            return Err(format!(
                "--election-timeout-ms {e} must be at least 5 times --heartbeat-ms {h}, or a few late heartbeats \
                 start an election"
            ));
        }
        if e > MAX_ELECTION_TIMEOUT_MS {
            return Err(format!("--election-timeout-ms {e} is above the {MAX_ELECTION_TIMEOUT_MS} ms maximum"));
        }
        if !(1..=3_600_000).contains(&self.request_timeout_ms) {
            return Err(format!("--request-timeout-ms {} must be 1 to 3600000", self.request_timeout_ms));
        }
        // Leases and locks expire in steps of this tick; longer than an
        // election timeout and a new leader's clock would lag by more than
        // the tick it inherited.
        if self.service_tick_ms == 0 || self.service_tick_ms > e {
            return Err(format!("--service-tick-ms {} must be 1 to the election timeout ({e})", self.service_tick_ms));
        }
        if !(1..=1024).contains(&self.worker_threads) {
            return Err(format!("--worker-threads {} must be 1 to 1024", self.worker_threads));
        }
        if self.read_mode == ReadModeOpt::Lease && self.max_clock_drift_ms >= e {
            return Err(format!(
                "--max-clock-drift-ms {} must be below the election timeout ({e}): the lease would be empty",
                self.max_clock_drift_ms
            ));
        }
        // The core's own checks, on what it will be given.
        self.raft(NodeId(1)).validate().map_err(|err| format!("raft: {err}"))?;
        self.multi_paxos(NodeId(1)).validate().map_err(|err| format!("multi-paxos: {err}"))?;
        Ok(())
    }

    /// The minimum election timeout.
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms)
    }

    /// Node `id`'s replica seed: distinct per node of a process, all of
    /// them replayed by one `--seed`.
    pub fn seed_for(&self, id: NodeId) -> u64 {
        splitmix(self.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Raft's configuration for node `id`.
    pub fn raft(&self, id: NodeId) -> RaftConfig {
        let mut cfg = RaftConfig::new(id, self.seed_for(id));
        cfg.election_timeout = self.election_timeout();
        cfg.heartbeat_interval = Duration::from_millis(self.heartbeat_ms);
        cfg.read_mode = self.replica_read_mode();
        cfg.retained_entries = Some(self.retained_entries);
        cfg
    }

    /// The read mode either protocol is built with.
    fn replica_read_mode(&self) -> ReadMode {
        match self.read_mode {
            ReadModeOpt::ReadIndex => ReadMode::ReadIndex,
            ReadModeOpt::Lease => ReadMode::Lease { max_clock_drift: Duration::from_millis(self.max_clock_drift_ms) },
        }
    }

    /// Multi-Paxos's configuration for node `id`.
    pub fn multi_paxos(&self, id: NodeId) -> MultiPaxosConfig {
        let mut cfg = MultiPaxosConfig::new(id, self.seed_for(id));
        cfg.election_timeout = self.election_timeout();
        cfg.heartbeat_interval = Duration::from_millis(self.heartbeat_ms);
        cfg.read_mode = self.replica_read_mode();
        cfg.retained_entries = Some(self.retained_entries);
        cfg
    }

    /// The knobs as a `[tuning]` table, every value explicit (the seed
    /// included, so the printout replays this run).
    pub fn as_opts(&self) -> TuningOpts {
        TuningOpts {
            election_timeout_ms: Some(self.election_timeout_ms),
            heartbeat_ms: Some(self.heartbeat_ms),
            request_timeout_ms: Some(self.request_timeout_ms),
            service_tick_ms: Some(self.service_tick_ms),
            worker_threads: Some(self.worker_threads),
            seed: Some(self.seed),
            read_mode: Some(self.read_mode),
            max_clock_drift_ms: Some(self.max_clock_drift_ms),
            retained_entries: Some(self.retained_entries),
            reads_at: Some(self.reads_at),
        }
    }
}

/// SplitMix64's finaliser: neighbouring inputs give unrelated outputs.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
        let flags = TuningOpts { election_timeout_ms: Some(900), ..TuningOpts::default() };
        let file = TuningOpts {
            election_timeout_ms: Some(700),
            heartbeat_ms: Some(100),
            read_mode: Some(ReadModeOpt::Lease),
            ..TuningOpts::default()
        };
        let t = flags.over(file).resolve().unwrap();
        assert_eq!(t.election_timeout_ms, 900);
        assert_eq!(t.heartbeat_ms, 100);
        assert_eq!(t.read_mode, ReadModeOpt::Lease);
        assert_eq!(t.request_timeout_ms, 5000);
        assert_eq!(t.max_clock_drift_ms, 90);
    }

    #[test]
    fn the_knobs_reach_the_replica_configurations() {
        let opts = TuningOpts {
            election_timeout_ms: Some(800),
            heartbeat_ms: Some(40),
            read_mode: Some(ReadModeOpt::Lease),
            max_clock_drift_ms: Some(30),
            seed: Some(7),
            ..TuningOpts::default()
        };
        let t = opts.resolve().unwrap();
        let r = t.raft(NodeId(2));
        assert_eq!(r.election_timeout, Duration::from_millis(800));
        assert_eq!(r.heartbeat_interval, Duration::from_millis(40));
        assert_eq!(r.read_mode, ReadMode::Lease { max_clock_drift: Duration::from_millis(30) });
        let p = t.multi_paxos(NodeId(2));
        assert_eq!(p.election_timeout, Duration::from_millis(800));
        assert_eq!(p.heartbeat_interval, Duration::from_millis(40));
        assert_eq!(p.read_mode, ReadMode::Lease { max_clock_drift: Duration::from_millis(30) });
        assert_eq!(r.seed, p.seed);
        assert_ne!(r.seed, t.raft(NodeId(3)).seed, "nodes of one process draw different timeouts");
    }

    #[test]
    fn without_a_seed_every_process_draws_its_own() {
        let a = TuningOpts::default().resolve().unwrap();
        let b = TuningOpts::default().resolve().unwrap();
        assert!(!a.seed_given);
        assert_ne!(a.seed, b.seed, "a restarted node must not replay its previous life's timeouts");
        let c = TuningOpts { seed: Some(a.seed), ..TuningOpts::default() }.resolve().unwrap();
        assert!(c.seed_given);
        assert_eq!(c.raft(NodeId(1)).seed, a.raft(NodeId(1)).seed, "--seed replays a run");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_the_reason() {
        let bad = |o: TuningOpts| o.resolve().unwrap_err();
        let d = TuningOpts::default();
        assert!(bad(TuningOpts { heartbeat_ms: Some(0), ..d.clone() }).contains("at least 1"));
        assert!(bad(TuningOpts { heartbeat_ms: Some(200), ..d.clone() }).contains("5 times"));
        assert!(bad(TuningOpts { election_timeout_ms: Some(60_000), ..d.clone() }).contains("maximum"));
        assert!(bad(TuningOpts { request_timeout_ms: Some(0), ..d.clone() }).contains("request-timeout"));
        assert!(bad(TuningOpts { service_tick_ms: Some(0), ..d.clone() }).contains("service-tick"));
        assert!(bad(TuningOpts { service_tick_ms: Some(501), ..d.clone() }).contains("service-tick"));
        assert!(bad(TuningOpts { worker_threads: Some(0), ..d.clone() }).contains("worker-threads"));
        let drift = TuningOpts { max_clock_drift_ms: Some(500), ..d.clone() };
        assert!(bad(drift).contains("max-clock-drift"), "lease reads are the default");
        // The drift bound only matters to lease reads.
        let index = TuningOpts { read_mode: Some(ReadModeOpt::ReadIndex), max_clock_drift_ms: Some(500), ..d };
        assert!(index.resolve().is_ok());
    }

    #[test]
    fn the_printed_table_reads_back_as_the_same_settings() {
        let t = TuningOpts { election_timeout_ms: Some(1000), ..TuningOpts::default() }.resolve().unwrap();
        let text = toml::to_string(&t.as_opts()).unwrap();
        let back: TuningOpts = toml::from_str(&text).unwrap();
        assert_eq!(back.resolve().unwrap(), Tuning { seed_given: true, ..t });
    }
}
