//! # synod-quic
//!
//! A synod [`Transport`](synod_net::transport::Transport) over QUIC
//! (quinn), with mutual TLS on the cluster's own certificate authority.
//!
//! - **One connection per pair of nodes**: the lower node id dials, the
//!   higher accepts. A dialer reconnects with exponential backoff and
//!   seeded jitter; a newer connection from a peer replaces the older.
//! - **A stream per message class** ([`Class`]): control (votes,
//!   heartbeats, responses), replication (appends), snapshots and client
//!   forwarding each have their own bounded queue, writer and
//!   unidirectional stream, so a snapshot never holds up a heartbeat.
//!   Frames use synod's [`FrameCodec`](synod_net::codec::FrameCodec).
//! - **Mutual TLS**: both sides trust the cluster CA only, and each
//!   certificate names one node (`node-<id>.<cluster-id>.synod`). The
//!   dialer requires the name of the node it dialed; the acceptor requires
//!   a peer that dials it, and that the synod hello on the connection's
//!   first stream claims the node the certificate names. The hello also
//!   checks the cluster id and wire version, exactly as over TCP.
//! - A peer that breaks the protocol (bad or oversized frame, unknown
//!   stream, second hello) is disconnected with the reason logged, sent to
//!   it in the close frame, and kept in [`QuicStats::last_rejection`]; the
//!   node keeps serving everyone else.
//!
//! ```no_run
//! # async fn demo(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::BTreeMap;
//! use synod_core::id::NodeId;
//! use synod_quic::{certs, QuicConfig, QuicTransport};
//!
//! let node = certs::NodeCert::load(dir, NodeId(1))?;
//! let peers = BTreeMap::from([(NodeId(2), "10.0.0.2:7001".to_string())]);
//! let cfg = QuicConfig::new(NodeId(1), node.cluster_id(), peers);
//! let transport = QuicTransport::bind(cfg, &node, "0.0.0.0:7001".parse()?)?;
//! # let _ = transport; Ok(()) }
//! ```
//!
//! The transport runs on tokio (start it inside a tokio runtime);
//! `synod_tokio::TokioRuntime` is the matching
//! [`Runtime`](synod_net::runtime::Runtime) for the node.

#![forbid(unsafe_code)]

mod accept;
mod class;
mod config;
mod dial;
mod link;
pub mod tls;
mod transport;
mod wire;

pub use class::Class;
pub use config::{QuicConfig, QuicStats};
/// The cluster CA and node certificates (from `synod-tls`).
pub use synod_tls::certs;
/// Who a certificate speaks for (from `synod-tls`).
pub use synod_tls::identity;
pub use transport::{QuicError, QuicTransport};
