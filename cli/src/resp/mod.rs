//! The RESP front end (RESP2, and RESP3 after `HELLO 3`): any Redis client
//! can talk to a synod node, and no client can take it down.
//!
//! Each connection reads requests with an incremental parser that accepts
//! only what Redis accepts as a command ([`parse`]), runs them in order
//! (pipelining), and writes replies in batches. What a client can make the
//! server hold is bounded ([`limits`]): one request, one reply, a window of
//! unread replies; a client that stalls is disconnected. Clients past the
//! process's limit are refused; clients must authenticate when the node
//! has passwords or users ([`auth`]); TLS is optional ([`tls`]). Protocol
//! garbage closes the connection; everything else — unknown commands,
//! wrong arity, bad integers, oversized values — is an error reply and the
//! connection stays open.

mod admin;
mod auth;
mod backup;
mod catalog;
mod clients;
mod commands;
mod conn;
mod hashes;
mod keys;
mod limits;
pub mod parse;
mod reply;
mod resp3;
mod session;
mod stats;
mod strings;
mod tls;
mod transaction;

pub(crate) use admin::membership_json;
pub use auth::{Principal, Role, UserConfig, Users};
pub use commands::{Backend, Directory};
pub use conn::connection;
pub use limits::{ClientSlots, FLUSH_AT, RespLimits, Slot, fit_clients, reserved_fds};
pub use stats::CommandStats;
pub use tls::{TlsFiles, acceptor};

use core::sync::atomic::{AtomicU64, Ordering};
use futures::future::{Either, select};
use futures::io::AsyncWriteExt;
use std::sync::Arc;
use synod_core::time::Duration;
use synod_net::runtime::Runtime;
use synod_net::stream::{Listener, Stream};

/// What a front end enforces: bounds per client, the process's client
/// limit, who may connect, TLS, and what the store would refuse.
#[derive(Clone)]
pub struct Policy {
    /// Per-client bounds.
    pub limits: RespLimits,
    /// The process's client limit, shared by its nodes.
    pub slots: Arc<ClientSlots>,
    /// Who may connect, and what each may do.
    pub users: Users,
    /// TLS, if the port speaks it.
    pub tls: Option<futures_rustls::TlsAcceptor>,
    /// The store's configuration, to refuse what it would refuse before a
    /// command is even handed to the node (the node checks again).
    pub store: synod_core::service::Config,
    /// A leader that has not heard from a quorum within this (the
    /// election timeout) reports itself unhealthy in `INFO`.
    pub health_window: synod_core::time::Duration,
    /// Per-command figures, shared by the process's front ends.
    pub stats: Arc<CommandStats>,
    /// How the node serves linearizable reads, for `INFO`.
    pub read_mode: crate::tuning::ReadModeOpt,
    /// Which node serves a new connection's reads.
    pub reads_at: crate::tuning::ReadsAt,
}

/// What every connection of one node's front end shares.
pub struct Server {
    /// Where commands go.
    pub backend: Arc<dyn Backend>,
    /// Members' addresses, failure detectors, the clock.
    pub dir: Directory,
    /// Timers for idle and stalled clients.
    pub runtime: Arc<dyn Runtime>,
    /// What it enforces.
    pub policy: Policy,
    /// Unguessable per process: connection holders are this and a count.
    nonce: u64,
    connections: AtomicU64,
    /// Live connections, for `CLIENT LIST`.
    clients: Arc<clients::Registry>,
}

impl Server {
    /// A front end for `backend` that enforces `policy`.
    pub fn new(backend: Arc<dyn Backend>, dir: Directory, runtime: Arc<dyn Runtime>, policy: Policy) -> Server {
        Server {
            backend,
            dir,
            runtime,
            policy,
            nonce: process_nonce(),
            connections: AtomicU64::new(0),
            clients: Arc::default(),
        }
    }

    /// A new connection's number, and the holder its leases are granted
    /// to: unique across processes and restarts, and not guessable from
    /// another connection's (the nonce is random per process). A zero byte,
    /// the nonce and the number: 17 bytes, never a user's (`user:…`).
    fn next_connection(&self) -> (u64, bytes::Bytes) {
        let id = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let mut holder = Vec::with_capacity(17);
        holder.push(0);
        holder.extend_from_slice(&self.nonce.to_be_bytes());
        holder.extend_from_slice(&id.to_be_bytes());
        (id, bytes::Bytes::from(holder))
    }
}

/// 64 random bits from the OS, through the standard library's seeded
/// hasher (no global generator is read; each process draws once).
fn process_nonce() -> u64 {
    use core::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// What a client over the limit is told before it is closed.
const TOO_MANY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Accepts RESP clients until the listener fails for good.
pub async fn serve(mut listener: Box<dyn Listener>, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let Some(slot) = server.policy.slots.take() else {
                    refuse(stream, &server).await;
                    tracing::debug!(%addr, "client refused: max number of clients reached");
                    continue;
                };
                let s = server.clone();
                server.runtime.spawn(Box::pin(async move {
                    let stream = match handshake(stream, &s).await {
                        Ok(stream) => stream,
                        Err(e) => return tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                    };
                    if let Err(e) = connection(stream, addr.parse().ok(), &s).await {
                        tracing::debug!(%addr, error = %e, "client connection closed");
                    }
                    drop(slot);
                }));
            }
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "RESP accept failed");
                server.runtime.sleep_until(server.runtime.now() + Duration::from_millis(50)).await;
            }
        }
    }
}

/// Tells a client past the limit why, briefly, and closes it: accepting
/// holds one descriptor, for at most 100 ms.
async fn refuse(mut stream: Box<dyn Stream>, server: &Server) {
    let deadline = server.runtime.sleep_until(server.runtime.now() + Duration::from_millis(100));
    let _ = select(Box::pin(stream.write_all(TOO_MANY)), deadline).await;
}

/// The TLS handshake, if the port speaks TLS, within the stall timeout.
async fn handshake(stream: Box<dyn Stream>, server: &Server) -> std::io::Result<Box<dyn Stream>> {
    let Some(tls) = &server.policy.tls else { return Ok(stream) };
    let deadline = server.runtime.sleep_until(server.runtime.now() + server.policy.limits.stall_timeout);
    match select(tls.accept(stream), deadline).await {
        Either::Left((Ok(s), _)) => Ok(Box::new(s)),
        Either::Left((Err(e), _)) => Err(e),
        Either::Right(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no TLS handshake in time")),
    }
}
