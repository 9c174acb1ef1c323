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
//! - **Leases and locks.** [`Client::grant`] keeps a lease alive in the
//!   background, counted conservatively by core's lease tracker
//!   ([`LeaseState`]: safe, jeopardy, grace, expired — Chubby §2.8);
//!   [`Client::lock`] waits for a lock and returns a [`LockGuard`] with
//!   its fencing token, released when dropped.
//!
//! - **Spread reads.** With [`Reads::Spread`], reads go to every node,
//!   picked by core's peak-EWMA balancer; nodes that keep failing are
//!   ejected by core's outlier ejection, and nodes core's φ-accrual
//!   detector suspects (fed by pings) are skipped. Each node serves reads
//!   after a read-index round, so they stay linearizable.
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
//!
//! A worker that does its job only while it holds the lock, fencing each
//! write with the token:
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<synod_client::Client>) -> Result<(), synod_client::Error> {
//! use core::time::Duration;
//!
//! let lease = client.grant(Duration::from_secs(10)).await?;
//! let guard = client.lock("reports", &lease).await?;
//! while lease.may_act() {
//!     // Hand the token to what the lock protects with every write, so it
//!     // can refuse a holder that was replaced while it paused.
//!     client.set("report:token", guard.token().to_string(), None).await?;
//!     # break;
//! }
//! guard.release().await?;
//! # Ok(()) }
//! ```

mod client;
mod config;
mod conn;
mod error;
mod lease;
mod reads;

pub use client::Client;
pub use config::Config;
pub use error::Error;
pub use lease::{Lease, LockGuard};
pub use reads::Reads;
pub use synod_core::lease::LeaseState;
