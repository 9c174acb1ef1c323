//! The dialing side: for each peer with a higher id, one task that
//! connects, runs the hello, serves the link while it lasts, and
//! reconnects with exponential backoff and seeded jitter.

use crate::identity;
use crate::link;
use crate::transport::{Peer, Shared};
use crate::wire::{self, LinkError};
use core::net::SocketAddr;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::time::{Duration, duration_nanos};

pub(crate) async fn run(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    peer: NodeId,
    slot: Arc<Peer>,
    mut rng: Rng,
) {
    let mut stop = shared.stop.wait();
    let mut failures = 0u32;
    while !shared.is_closed() && !slot.is_removed() {
        let attempt =
            tokio::time::timeout(shared.cfg.handshake_timeout, connect(&shared, &endpoint, &client, peer, &slot.addr));
        let result = tokio::select! {
            r = attempt => r.unwrap_or(Err(LinkError::Timeout)),
            _ = &mut stop => return,
        };
        match result {
            Ok(conn) => {
                failures = 0;
                link::run(&shared, peer, &slot, conn).await;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let loud = failures == 1 || failures.is_power_of_two();
                let addr = &slot.addr;
                if e.is_refusal() {
                    shared.reject(format!("node {peer} at {addr}: {e}"));
                    if loud {
                        tracing::warn!(%peer, %addr, error = %e, "connection refused");
                    }
                } else if loud {
                    tracing::info!(%peer, %addr, error = %e, "cannot reach peer");
                }
            }
        }
        let delay = backoff(&shared, &mut rng, failures);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut stop => return,
        }
    }
}

/// Exponential backoff with full jitter from the seeded generator.
fn backoff(shared: &Shared, rng: &mut Rng, failures: u32) -> Duration {
    let min = duration_nanos(shared.cfg.backoff_min).max(1);
    let max = duration_nanos(shared.cfg.backoff_max).max(min);
    let cap = min.saturating_mul(1u64 << failures.min(20)).min(max);
    Duration::from_nanos(rng.range(min, cap.max(min + 1)))
}

/// Connects (TLS checks the peer's certificate names `peer`), then sends
/// our hello on a fresh bidirectional stream and checks the answer.
async fn connect(
    shared: &Shared,
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    peer: NodeId,
    addr: &str,
) -> Result<quinn::Connection, LinkError> {
    let addr = resolve(addr).await?;
    let name = identity::node_name(&shared.cfg.cluster_id, peer);
    let conn = endpoint.connect_with(client.clone(), addr, &name)?.await?;
    match greet(shared, &conn, peer).await {
        Ok(()) => Ok(conn),
        Err(e) => {
            if e.is_violation() {
                conn.close(e.close_code(), e.to_string().as_bytes());
            }
            Err(e)
        }
    }
}

async fn greet(shared: &Shared, conn: &quinn::Connection, peer: NodeId) -> Result<(), LinkError> {
    let cfg = &shared.cfg;
    let (mut send, mut recv) = conn.open_bi().await?;
    wire::write_frame(&mut send, &shared.codec, &wire::hello(&cfg.cluster_id, cfg.id, peer)).await?;
    let theirs = wire::read_hello(&mut recv).await?;
    theirs.check(&cfg.cluster_id, cfg.id, Some(peer))?;
    let _ = send.finish();
    Ok(())
}

async fn resolve(addr: &str) -> Result<SocketAddr, LinkError> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| LinkError::Resolve(addr.to_string()))
}
