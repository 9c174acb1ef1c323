//! The accepting side: every incoming connection must pass TLS (a
//! certificate of the cluster CA naming a peer that dials us), then open a
//! stream with a hello that claims the very node its certificate names.

use crate::link;
use crate::transport::Shared;
use crate::wire::{self, LinkError};
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::codec::HandshakeError;

pub(crate) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let mut stop = shared.stop.wait();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            _ = &mut stop => return,
        };
        let Some(incoming) = incoming else { return };
        tokio::spawn(serve(shared.clone(), incoming));
    }
}

async fn serve(shared: Arc<Shared>, incoming: quinn::Incoming) {
    let addr = incoming.remote_address();
    let timeout = shared.cfg.handshake_timeout;
    let started = tokio::time::Instant::now();
    let conn = match tokio::time::timeout(timeout, incoming).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            // TLS refusals (wrong CA, wrong identity, no certificate) land here.
            let e = LinkError::from(e);
            if e.is_refusal() {
                tracing::warn!(%addr, error = %e, "handshake refused");
                shared.reject(format!("{addr}: {e}"));
            } else {
                tracing::debug!(%addr, error = %e, "incoming connection failed");
            }
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "QUIC handshake timed out");
            return;
        }
    };
    let left = timeout.saturating_sub(started.elapsed());
    let peer = match tokio::time::timeout(left, greet(&shared, &conn)).await.unwrap_or(Err(LinkError::Timeout)) {
        Ok(peer) => peer,
        Err(e) if e.is_violation() || matches!(e, LinkError::Timeout) => {
            let why = if matches!(e, LinkError::Timeout) { "no hello in time".to_string() } else { e.to_string() };
            tracing::warn!(%addr, error = %why, "handshake refused");
            shared.reject(format!("{addr}: {why}"));
            conn.close(e.close_code(), why.as_bytes());
            return;
        }
        Err(e) => {
            tracing::debug!(%addr, error = %e, "connection lost during the handshake");
            return;
        }
    };
    let Some(slot) = shared.peer(peer) else { return };
    link::run(&shared, peer, &slot, conn).await;
}

/// Reads and checks the dialer's hello, answers with ours.
async fn greet(shared: &Shared, conn: &quinn::Connection) -> Result<NodeId, LinkError> {
    let cfg = &shared.cfg;
    let (mut send, mut recv) = conn.accept_bi().await?;
    let hello = wire::read_hello(&mut recv).await?;
    let claimed = hello.check(&cfg.cluster_id, cfg.id, None)?;
    if shared.peer(claimed).is_none() {
        return Err(HandshakeError::UnknownPeer(claimed).into());
    }
    // The certificate is the identity; the hello must claim the same node.
    let named = wire::peer_node(conn, &cfg.cluster_id)?;
    if named != claimed {
        return Err(crate::identity::IdentityError::Mismatch { cert: named, claimed }.into());
    }
    if claimed > cfg.id {
        return Err(crate::identity::IdentityError::NotADialer(claimed).into());
    }
    wire::write_frame(&mut send, &shared.codec, &wire::hello(&cfg.cluster_id, cfg.id, claimed)).await?;
    let _ = send.finish();
    Ok(claimed)
}
