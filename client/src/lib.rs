//! An async client for a synod cluster, on any runtime the adapters serve
//! (tokio, smol) and any dialer (plain TCP, TLS).
//!
//! - **Endpoints and fail-over.** The client talks to one node at a time,
//!   moves to the leader a node names, and to the next endpoint when a
//!   node stops answering.
//! - **Retries** with exponential backoff and equal jitter, on timeouts,
//!   lost connections, leader changes and busy nodes, within a budget.
//! - **Exactly once.** Every write is the next command of the client's
//!   session (`SYNOD.SEQ`, Raft thesis §6.3): a retry carries the same
//!   number, so the cluster applies it once however often it arrives. A
//!   write is only ever reported failed-but-maybe-applied
//!   ([`Error::MaybeApplied`]) when its session itself was lost.
//!
//! A counter incremented exactly once under fail-over (a cluster from
//! `synod cluster`, the tokio adapter):
//!
//! ```no_run
//! # async fn run() -> Result<(), synod_client::Error> {
//! use std::sync::Arc;
//! use synod_client::{Client, Config};
//! use synod_tokio::{TcpConnector, TokioRuntime};
//!
//! let cfg = Config::new(["127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"]);
//! let client = Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector))?;
//! for _ in 0..1000 {
//!     // Retried through any leader change; never applied twice.
//!     client.incr("visits").await?;
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod conn;
mod error;

pub use client::Client;
pub use config::Config;
pub use error::Error;
