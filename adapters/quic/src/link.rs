//! An established connection to a peer: a reader per inbound class stream,
//! and (for the transport's lifetime) one writer per peer and class that
//! sends on whichever link is current.

use crate::class::Class;
use crate::transport::{Peer, Shared};
use crate::wire::{self, LinkError, code};
use bytes::BytesMut;
use core::sync::atomic::Ordering;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::codec::Frame;
use synod_net::queue::QueueError;

/// A connection that passed the handshake.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub conn: quinn::Connection,
    pub id: u64,
}

/// Makes `conn` the link to `peer` (closing any older one), reads the
/// peer's streams until the connection ends, then forgets it.
pub(crate) async fn run(shared: &Arc<Shared>, peer: NodeId, slot: &Arc<Peer>, conn: quinn::Connection) {
    if slot.is_removed() {
        conn.close(code::CLOSING, b"left the configuration");
        return;
    }
    let link = Link { conn: conn.clone(), id: shared.next_link.fetch_add(1, Ordering::Relaxed) };
    if let Some(old) = slot.link.send_replace(Some(link.clone())) {
        old.conn.close(code::REPLACED, b"replaced by a newer connection");
    }
    shared.count(|s| s.connects += 1);
    tracing::info!(%peer, addr = %conn.remote_address(), "connected");
    let mut stop = shared.stop.wait();
    // Installed after a close: undo at once.
    while !shared.is_closed() {
        tokio::select! {
            accepted = conn.accept_uni() => match accepted {
                Ok(recv) => {
                    tokio::spawn(read_stream(shared.clone(), peer, slot.clone(), conn.clone(), recv));
                }
                Err(e) => {
                    tracing::info!(%peer, reason = %e, "connection ended");
                    break;
                }
            },
            _ = &mut stop => break,
        }
    }
    slot.link.send_if_modified(|cur| {
        let ours = cur.as_ref().is_some_and(|l| l.id == link.id);
        if ours {
            *cur = None;
        }
        ours
    });
    if shared.is_closed() {
        conn.close(code::CLOSING, b"node shutting down");
    } else {
        // Frames still in its streams may be gone: the node takes back
        // the requests it awaits from `peer`.
        shared.lost.report(peer);
    }
}

/// Reads one class stream from `peer` into the inbox; a violation cuts the
/// whole connection, with the reason sent to the peer and logged here.
async fn read_stream(
    shared: Arc<Shared>,
    peer: NodeId,
    slot: Arc<Peer>,
    conn: quinn::Connection,
    mut recv: quinn::RecvStream,
) {
    let result = async {
        let mut tag = [0u8];
        recv.read_exact(&mut tag).await?;
        let class = Class::from_tag(tag[0]).ok_or(LinkError::BadClass(tag[0]))?;
        tracing::debug!(%peer, %class, "stream opened");
        let mut buf = BytesMut::new();
        let traffic = shared.traffic.of(peer);
        while let Some((frame, bytes)) = wire::read_frame(&mut recv, &shared.codec, &mut buf).await? {
            traffic.received(bytes);
            if matches!(frame, Frame::Hello(_)) {
                return Err(LinkError::SecondHello);
            }
            if shared.is_blocked(peer) {
                continue;
            }
            if slot.is_removed() {
                return Ok(());
            }
            match shared.inbox.push((peer, frame)) {
                Ok(()) => {}
                Err(QueueError::Full) => shared.count(|s| s.dropped += 1),
                Err(QueueError::Closed) => return Ok(()),
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {}
        Err(e) if e.is_violation() => {
            tracing::warn!(%peer, error = %e, "protocol violation; disconnecting peer");
            shared.reject(format!("node {peer}: {e}"));
            conn.close(e.close_code(), e.to_string().as_bytes());
        }
        Err(e) => tracing::debug!(%peer, error = %e, "stream ended"),
    }
}

/// Sends `peer`'s `class` queue, batch by batch, on the current link's
/// stream for that class (opened on first use). Runs until the transport
/// closes; the single consumer of its queue.
pub(crate) async fn write_class(shared: Arc<Shared>, peer: NodeId, slot: Arc<Peer>, class: Class) {
    let queue = slot.queues[class.index()].clone();
    let mut links = slot.link.subscribe();
    let mut stop = shared.stop.wait();
    let mut frames = Vec::new();
    let mut buf = BytesMut::new();
    let traffic = shared.traffic.of(peer);
    'links: loop {
        let current = links.borrow_and_update().clone();
        let Some(link) = current else {
            tokio::select! {
                changed = links.changed() => if changed.is_err() { return },
                _ = &mut stop => return,
            }
            continue;
        };
        let mut stream: Option<quinn::SendStream> = None;
        loop {
            frames.clear();
            tokio::select! {
                more = queue.pop_all(&mut frames) => if !more {
                    if let Some(s) = stream.as_mut() {
                        let _ = s.finish();
                    }
                    return;
                },
                _ = links.changed() => continue 'links,
            }
            if shared.is_blocked(peer) {
                continue;
            }
            buf.clear();
            let mut encoded = 0;
            for f in &frames {
                match shared.codec.encode(f, &mut buf) {
                    Ok(()) => encoded += 1,
                    // Too large to send: dropped, the rest still go.
                    Err(e) => tracing::warn!(%peer, %class, error = %e, "frame not sent"),
                }
            }
            if buf.is_empty() {
                continue;
            }
            if let Err(e) = write(&link, class, &mut stream, &buf).await {
                tracing::debug!(%peer, %class, error = %e, "write failed");
                // A stream that failed on a live connection leaves the
                // link unusable for this class: start over.
                if link.conn.close_reason().is_none() {
                    link.conn.close(code::VIOLATION, b"stream failed");
                }
                tokio::select! {
                    changed = links.changed() => if changed.is_err() { return },
                    _ = &mut stop => return,
                }
                continue 'links;
            }
            traffic.sent(encoded, buf.len());
        }
    }
}

async fn write(link: &Link, class: Class, stream: &mut Option<quinn::SendStream>, buf: &[u8]) -> Result<(), LinkError> {
    let s = match stream {
        Some(s) => s,
        None => {
            let mut s = link.conn.open_uni().await?;
            let _ = s.set_priority(class.priority());
            s.write_all(&[class.tag()]).await?;
            stream.insert(s)
        }
    };
    s.write_all(buf).await?;
    Ok(())
}
