//! Command-line arguments and the node configuration file.

use clap::{Args, Parser, Subcommand, ValueEnum};
use core::net::SocketAddr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// synod: a replicated key-value and lock store that speaks RESP.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local cluster in this process: real loopback sockets, on-disk
    /// logs, RESP on printed ports. Restarting on the same data directory
    /// recovers every acknowledged write.
    Cluster(ClusterArgs),
    /// Run one node of a multi-machine cluster (flags or `--config FILE`).
    Node(NodeArgs),
    /// Show a node's view: leader, term, commit and apply indexes, peers.
    Status(StatusArgs),
    /// Create a cluster CA and node certificates (`--transport tcp` and `quic`).
    Certs(CertsArgs),
    /// List, add, promote and remove members of a running cluster.
    Member(MemberArgs),
    /// Move leadership to another voter.
    Leader(LeaderArgs),
    /// Back up a running cluster to a file, inspect a backup, or seed new
    /// data directories from one.
    Snapshot(SnapshotArgs),
    /// Start a new one-voter cluster from a stopped survivor's data, when
    /// a majority of the voters is lost for good.
    Recover(RecoverArgs),
}

/// How to reach a running node as an operator.
#[derive(Debug, Clone, Args)]
pub struct RemoteOpts {
    /// Any node's RESP address (steps are passed on to the leader).
    #[arg(long, default_value = "127.0.0.1:7001", global = true)]
    pub addr: String,
    /// The user to authenticate as (with `--password`).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// The password, if the node requires one.
    #[arg(long, env = "SYNOD_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
}

impl RemoteOpts {
    /// The login to send, if any.
    pub fn login(&self) -> Option<(Option<&str>, &str)> {
        self.password.as_deref().map(|p| (self.user.as_deref(), p))
    }
}

/// `synod member`.
#[derive(Debug, Args)]
pub struct MemberArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: MemberAction,
    /// The node to ask.
    #[command(flatten)]
    pub remote: RemoteOpts,
}

/// A membership step. Each waits until the new configuration is in
/// force; asking again after a timeout is safe.
#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// Show the configuration: each member's role, address and progress.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a node as a learner (it copies the log but does not vote);
    /// prints how to start it.
    Add {
        /// The new node's id (never reuse the id of a removed node).
        id: u64,
        /// Its peer address, HOST:PORT, as the other members will dial it.
        address: String,
    },
    /// Make a learner a voter (through joint consensus).
    Promote {
        /// The learner's id.
        id: u64,
    },
    /// Remove a voter or a learner (through joint consensus).
    Remove {
        /// The member's id.
        id: u64,
    },
    /// Swap a voter for a caught-up learner in one joint-consensus change,
    /// so a cluster keeps its number of voters while a machine is replaced.
    Replace {
        /// The voter that leaves.
        old: u64,
        /// The learner that becomes a voter in its place.
        new: u64,
    },
}

/// `synod leader`.
#[derive(Debug, Args)]
pub struct LeaderArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: LeaderAction,
    /// The node to ask.
    #[command(flatten)]
    pub remote: RemoteOpts,
}

/// A leadership operation.
#[derive(Debug, Subcommand)]
pub enum LeaderAction {
    /// Hand leadership to voter ID, and wait until it leads.
    Transfer {
        /// The voter to lead.
        id: u64,
    },
}

/// `synod snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SnapshotAction,
}

/// A backup operation.
#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Take a backup of the running cluster (holding every write
    /// acknowledged before it starts) and write it to FILE, checked whole
    /// before it replaces anything.
    Save {
        /// Where to write the backup.
        file: PathBuf,
        /// The node to ask.
        #[command(flatten)]
        remote: RemoteOpts,
    },
    /// Check a backup file and show what it holds.
    Inspect {
        /// The backup file.
        file: PathBuf,
    },
    /// Seed a new, empty data directory from a backup. Run it for every
    /// founding member of the new cluster, each with its own id and the
    /// same --members and --cluster-id, then start them with `synod node`
    /// (or `synod cluster` for a local one).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory to create (it must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The node this directory is for.
        #[arg(long)]
        id: u64,
        /// The new cluster's voters, as `ID=HOST:PORT` (peer addresses) or
        /// just `ID` (the node's own --members then say where it is).
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<String>,
        /// The new cluster's id.
        #[arg(long, default_value = "synod")]
        cluster_id: String,
    },
}

/// `synod recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The survivor's data directory (the node must be stopped). It is
    /// read, not changed.
    #[arg(long)]
    pub from: PathBuf,
    /// The new data directory (it must not exist, or be empty).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The survivor's node id, which the recovered node keeps.
    #[arg(long)]
    pub id: u64,
    /// The recovered node's peer address, HOST:PORT.
    #[arg(long)]
    pub address: String,
    /// The old cluster's id.
    #[arg(long, default_value = "synod")]
    pub from_cluster_id: String,
    /// The new cluster's id [default: the old one's]. A new id keeps old
    /// members, started again by mistake, from ever talking to it.
    #[arg(long)]
    pub cluster_id: Option<String>,
}

/// `synod certs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CertsArgs {
    /// Renew node certificates instead.
    #[command(subcommand)]
    pub action: Option<CertsAction>,
    /// Cluster id (a DNS label: lowercase letters, digits, `-`).
    #[arg(long, required = true)]
    pub cluster_id: Option<String>,
    /// Node ids to issue certificates for.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<u64>,
    /// Output directory (CA and node PEM files; nothing is overwritten).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Days a node certificate is valid (the CA: ten years).
    #[arg(long, default_value_t = 365)]
    pub days: u64,
}

/// What `synod certs` can do besides creating a cluster CA.
#[derive(Debug, Subcommand)]
pub enum CertsAction {
    /// Issue nodes new certificates and keys from the CA in `--dir` (its
    /// `ca.key` must be there), replacing their old ones; each node uses
    /// its new certificate from its next start.
    Renew(RenewArgs),
    /// Issue certificates for nodes joining the cluster, from the CA in
    /// `--dir`; an existing certificate is never overwritten.
    Issue(RenewArgs),
}

/// `synod certs renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The directory `synod certs` wrote (`ca.pem`, `ca.key`, node files).
    #[arg(long)]
    pub dir: PathBuf,
    /// Node ids to renew.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<u64>,
    /// Days the new certificates are valid.
    #[arg(long, default_value_t = 365)]
    pub days: u64,
}

/// Which consensus protocol replicates the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Raft.
    #[default]
    Raft,
    /// Multi-Paxos.
    MultiPaxos,
}

/// How nodes reach each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// TCP with mutual TLS on the cluster CA (`--certs`): a peer is the
    /// node its certificate names.
    #[default]
    Tcp,
    /// Plain TCP: any process that reaches a peer port and knows the
    /// cluster id is believed to be the node it claims. Loopback only,
    /// unless `--trusted-network` says the network is yours alone.
    TcpInsecure,
    /// QUIC with mutual TLS on the cluster CA (`--certs`).
    Quic,
}

impl TransportKind {
    /// True if peers prove who they are.
    pub fn authenticated(self) -> bool {
        !matches!(self, TransportKind::TcpInsecure)
    }
}

/// Which async runtime runs the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// tokio.
    #[default]
    Tokio,
    /// smol.
    Smol,
}

/// Options shared by `cluster` and `node`. For `synod node`, each is also
/// a key of its config file; a flag wins over the file, the file over the
/// default.
#[derive(Clone, Debug, Args)]
pub struct Common {
    /// Consensus protocol [default: raft].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Transport between nodes [default: tcp].
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// Async runtime [default: tokio].
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeKind>,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Clients, limits and disk.
    #[command(flatten)]
    pub server: ServerOpts,
    /// Timing, reads and the random seed.
    #[command(flatten)]
    pub tuning: crate::tuning::TuningOpts,
}

impl Common {
    /// The protocol to run.
    pub fn protocol(&self) -> Protocol {
        self.protocol.unwrap_or_default()
    }

    /// The transport between nodes.
    pub fn transport(&self) -> TransportKind {
        self.transport.unwrap_or_default()
    }

    /// The async runtime.
    pub fn runtime(&self) -> RuntimeKind {
        self.runtime.unwrap_or_default()
    }

    /// These flags over `file`'s settings.
    pub fn over(self, file: &NodeFile) -> Common {
        Common {
            protocol: self.protocol.or(file.protocol),
            transport: self.transport.or(file.transport),
            runtime: self.runtime.or(file.runtime),
            metrics: self.metrics.or(file.metrics),
            server: self.server.over(file.server.clone()),
            tuning: self.tuning.over(file.tuning.clone()),
        }
    }
}

/// What every node's server side takes: who may connect and how much,
/// and how much disk it may fill. Each option is also a key of the same
/// name (with `_`) in the `[server]` table of `synod node`'s file; a flag
/// wins over the file, the file over the default.
#[derive(Clone, Default, Args, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerOpts {
    /// Password of the `default` user: clients must `AUTH` with it first.
    /// Named users with roles go in the config file (`[[users]]`).
    #[arg(long, env = "SYNOD_REQUIREPASS", hide_env_values = true)]
    #[serde(skip_serializing)]
    pub requirepass: Option<String>,
    /// Most clients at once, across the process [default: 10000, lowered
    /// to what the file descriptor limit leaves once storage and peers are
    /// served].
    #[arg(long)]
    pub maxclients: Option<usize>,
    /// Disconnect a client that sends nothing for this many seconds [default:
    /// 0, never].
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Disconnect a client that leaves a request half-sent, or its replies
    /// unread, with no progress for this many seconds [default: 30].
    #[arg(long)]
    pub stall_timeout: Option<u64>,
    /// Largest request a client may send, in bytes [default: 4194304].
    #[arg(long)]
    pub max_request_bytes: Option<usize>,
    /// Largest reply the server builds, in bytes [default: 8388608].
    #[arg(long)]
    pub max_reply_bytes: Option<usize>,
    /// Refuse writes that grow the data once a node's log and snapshots
    /// pass this many bytes; reads and deletes go on [default: 8589934592;
    /// 0: no quota].
    #[arg(long)]
    pub quota_bytes: Option<u64>,
    /// Snapshot the state every this many applied entries [default: 10000].
    #[arg(long)]
    pub snapshot_every: Option<u64>,
    /// Serve RESP over TLS with this certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require clients to present a certificate issued by this CA (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve RESP on a non-loopback address without authentication. Only
    /// for a network you trust: anyone who reaches the port can read and
    /// write everything.
    #[arg(long)]
    #[serde(default)]
    pub trusted_network: bool,
    /// Named users (config file only).
    #[arg(skip)]
    #[serde(default)]
    pub users: Vec<crate::resp::UserConfig>,
}

impl core::fmt::Debug for ServerOpts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the password.
        f.debug_struct("ServerOpts")
            .field("requirepass", &self.requirepass.as_ref().map(|_| "<set>"))
            .field("maxclients", &self.maxclients)
            .field("timeout", &self.timeout)
            .field("quota_bytes", &self.quota_bytes)
            .field("tls_cert", &self.tls_cert)
            .field("trusted_network", &self.trusted_network)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

impl ServerOpts {
    /// These flags over `file`'s settings.
    pub fn over(self, file: ServerOpts) -> ServerOpts {
        ServerOpts {
            requirepass: self.requirepass.or(file.requirepass),
            maxclients: self.maxclients.or(file.maxclients),
            timeout: self.timeout.or(file.timeout),
            stall_timeout: self.stall_timeout.or(file.stall_timeout),
            max_request_bytes: self.max_request_bytes.or(file.max_request_bytes),
            max_reply_bytes: self.max_reply_bytes.or(file.max_reply_bytes),
            quota_bytes: self.quota_bytes.or(file.quota_bytes),
            snapshot_every: self.snapshot_every.or(file.snapshot_every),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            tls_client_ca: self.tls_client_ca.or(file.tls_client_ca),
            trusted_network: self.trusted_network || file.trusted_network,
            users: if self.users.is_empty() { file.users } else { self.users },
        }
    }
}

/// `synod cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Where the nodes keep their logs (one subdirectory each).
    #[arg(long, default_value = "synod-data")]
    pub data_dir: PathBuf,
    /// RESP port of node 1; node N listens on this + N - 1.
    #[arg(long, default_value_t = 7001)]
    pub resp_port: u16,
    /// Cluster id (refuses data directories of another cluster).
    #[arg(long, default_value = "synod-local")]
    pub cluster_id: String,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// `synod node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// A TOML file with the settings below (flags given as well win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// This node's id.
    #[arg(long)]
    pub id: Option<u64>,
    /// Cluster id.
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// Every member as `ID=HOST:PORT` (peer addresses), this node included.
    /// Founding members all pass the same list. Once a node's log holds a
    /// configuration, the list must name the same members (see `synod
    /// member list`); a mismatch is an error, not an override.
    #[arg(long, value_delimiter = ',')]
    pub members: Vec<String>,
    /// Join a running cluster instead of founding one: start with no
    /// configuration, reach the members named by `--members`, and wait to
    /// be added (`synod member add`). Ignored once the log holds a
    /// configuration.
    #[arg(long)]
    pub join: bool,
    /// While this node leads, promote a learner to voter by itself once
    /// the learner has everything committed (otherwise only `synod member
    /// promote` does).
    #[arg(long)]
    pub auto_promote: bool,
    /// Where to accept peers, when it is not this node's own address in
    /// `--members` (which is what the other members dial, and what the
    /// configuration carries): behind NAT, a port mapping or a proxy.
    /// etcd's `--listen-peer-urls` beside its advertised peer URLs.
    #[arg(long)]
    pub listen_peers: Option<SocketAddr>,
    /// Where to accept RESP clients [default: 127.0.0.1:6379]. An address
    /// other than loopback needs authentication (`--requirepass`, users,
    /// or TLS client certificates) or `--trusted-network`.
    #[arg(long)]
    pub resp: Option<SocketAddr>,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory with `ca.pem` and this node's certificate and key
    /// (`node-<id>.pem`, `node-<id>.key`), as `synod certs` writes them.
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Print the effective settings (flags over the file over the
    /// defaults, as a config file) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// `synod status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node to ask.
    #[command(flatten)]
    pub remote: RemoteOpts,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The configuration file of `synod node`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// This node's id.
    pub id: Option<u64>,
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Members: id → peer address.
    #[serde(default)]
    pub members: BTreeMap<String, String>,
    /// Join a running cluster (see `--join`).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub join: bool,
    /// Promote caught-up learners automatically (see `--auto-promote`).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub auto_promote: bool,
    /// Where to accept peers (see `--listen-peers`).
    pub listen_peers: Option<SocketAddr>,
    /// RESP address.
    pub resp: Option<SocketAddr>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Protocol.
    pub protocol: Option<Protocol>,
    /// Transport.
    pub transport: Option<TransportKind>,
    /// Runtime.
    pub runtime: Option<RuntimeKind>,
    /// Metrics address.
    pub metrics: Option<SocketAddr>,
    /// Certificate directory.
    pub certs: Option<PathBuf>,
    /// Clients, limits and disk: the `[server]` table, keyed as the flags.
    #[serde(default)]
    pub server: ServerOpts,
    /// Timing, reads and the seed: the `[tuning]` table, keyed as the flags.
    #[serde(default)]
    pub tuning: crate::tuning::TuningOpts,
}
