//! Command-line arguments and the node configuration file.

use clap::{Args, Parser, Subcommand, ValueEnum};
use core::net::SocketAddr;
use serde::Deserialize;
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
    /// Create a cluster CA and node certificates for `--transport quic`.
    Certs(CertsArgs),
}

/// `synod certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Cluster id (a DNS label: lowercase letters, digits, `-`).
    #[arg(long)]
    pub cluster_id: String,
    /// Node ids to issue certificates for.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<u64>,
    /// Output directory (CA and node PEM files; nothing is overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// Which consensus protocol replicates the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Raft.
    #[default]
    Raft,
    /// Multi-Paxos.
    MultiPaxos,
}

/// How nodes reach each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Plain TCP.
    #[default]
    Tcp,
    /// QUIC with mutual TLS.
    Quic,
}

/// Which async runtime runs the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// tokio.
    #[default]
    Tokio,
    /// smol.
    Smol,
}

/// Options shared by `cluster` and `node`.
#[derive(Clone, Debug, Args)]
pub struct Common {
    /// Consensus protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Raft)]
    pub protocol: Protocol,
    /// Transport between nodes.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    pub transport: TransportKind,
    /// Async runtime.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    pub runtime: RuntimeKind,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
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
    #[arg(long, value_delimiter = ',')]
    pub members: Vec<String>,
    /// Where to accept RESP clients.
    #[arg(long)]
    pub resp: Option<SocketAddr>,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory with `ca.pem` and this node's certificate and key (QUIC).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// `synod status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A node's RESP address.
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub addr: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The configuration file of `synod node`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// This node's id.
    pub id: Option<u64>,
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Members: id → peer address.
    #[serde(default)]
    pub members: BTreeMap<String, String>,
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
    /// Certificate directory (QUIC).
    pub certs: Option<PathBuf>,
}
