//! # synod-tls
//!
//! The cluster's own public-key infrastructure and the mutual TLS every
//! synod transport between nodes runs on:
//!
//! - [`certs`]: a cluster CA, name-constrained to `<cluster-id>.synod`,
//!   and one certificate per node naming `node-<id>.<cluster-id>.synod`,
//!   with a real lifetime, written to and read from PEM files.
//! - [`identity`]: which node a certificate speaks for.
//! - [`config`]: the rustls client and server configurations (TLS 1.3,
//!   the cluster CA as the only trust anchor, the peer's identity checked
//!   on both sides), which `synod-quic` wraps for QUIC.
//! - [`TlsAuthenticator`]: the same over any byte stream, as the
//!   [`Authenticator`](synod_net::stream::Authenticator) of synod-net's
//!   stream transport, so TCP between nodes is as authenticated as QUIC.
//!
//! ```no_run
//! # fn demo(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::BTreeSet;
//! use synod_core::id::NodeId;
//! use synod_tls::{certs::NodeCert, TlsAuthenticator};
//!
//! let node = NodeCert::load(dir, NodeId(1))?;
//! let auth = TlsAuthenticator::new(&node, BTreeSet::from([NodeId(2), NodeId(3)]))?;
//! // pass `Arc::new(auth)` to `StreamTransport::start` (or an adapter's
//! // `tcp_transport`).
//! # let _ = auth; Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod certs;
pub mod config;
pub mod identity;
mod stream;

pub use config::Dialers;
pub use stream::{ALPN, TlsAuthenticator};
