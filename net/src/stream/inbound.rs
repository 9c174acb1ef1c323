//! The accepting side: each inbound connection must authenticate, then
//! open with a valid hello from a configured peer (the one it proved to
//! be, if the authenticator proves identities); its frames then go to the
//! node's inbox, attributed to that peer.

use super::outbound::read_frame;
use super::{Listener, Shared, Stream};
use crate::codec::{Frame, HandshakeError, Hello};
use crate::queue::QueueError;
use crate::sync::{Arc, lock};
use bytes::BytesMut;
use futures::future::{Either, select};
use futures::io::AsyncWriteExt;
use std::io;
use synod_core::id::NodeId;

pub(super) async fn accept_loop(shared: Arc<Shared>, mut listener: Box<dyn Listener>) {
    let mut stop = shared.stop.wait();
    while !shared.is_closed() {
        // Stop accepting (and free the port) as soon as the transport closes.
        let accepted = match select(listener.accept(), &mut stop).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let s = shared.clone();
                shared.runtime.spawn(Box::pin(async move {
                    if let Err(e) = serve(&s, stream, &addr).await {
                        tracing::debug!(%addr, error = %e, "inbound connection ended");
                    }
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                let deadline = shared.runtime.now() + synod_core::time::Duration::from_millis(50);
                shared.runtime.sleep_until(deadline).await;
            }
        }
    }
}

async fn serve(shared: &Shared, stream: Box<dyn Stream>, addr: &str) -> io::Result<()> {
    let mut buf = BytesMut::new();
    let mut scratch = Vec::new();
    // One deadline for authentication and hello together: a peer cannot
    // hold a connection open longer by being slow at each in turn.
    let deadline = shared.runtime.now() + shared.cfg.handshake_timeout;
    let auth = match select(shared.auth.accepted(stream), shared.runtime.sleep_until(deadline)).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no authentication in time")),
    };
    let (mut stream, proven) = auth.inspect_err(|e| {
        shared.count(|s| s.rejected += 1);
        tracing::warn!(%addr, error = %e, "peer failed to authenticate; disconnecting");
    })?;
    let peer = greet(shared, &mut stream, &mut buf, &mut scratch, addr, proven, deadline).await?;
    let traffic = shared.traffic.of(peer);
    let mut stop = shared.stop.wait();
    loop {
        let next =
            match select(Box::pin(read_frame(&mut stream, &shared.codec, &mut buf, &mut scratch)), &mut stop).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Ok(()),
            };
        let frame = match next {
            Ok((f, bytes)) => {
                traffic.received(bytes);
                f
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                shared.count(|s| s.rejected += 1);
                tracing::warn!(%peer, %addr, error = %e, "malformed frame; disconnecting peer");
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if shared.is_closed() {
            return Ok(());
        }
        if matches!(frame, Frame::Hello(_)) {
            shared.count(|s| s.rejected += 1);
            tracing::warn!(%peer, %addr, "second hello; disconnecting peer");
            return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected hello"));
        }
        match shared.admit(peer) {
            super::Admit::Take => {}
            super::Admit::Drop => continue,
            super::Admit::Removed => {
                tracing::info!(%peer, %addr, "peer left the configuration; closing its connection");
                return Ok(());
            }
        }
        match shared.inbox.push((peer, frame)) {
            Ok(()) => {}
            Err(QueueError::Full) => shared.count(|s| s.dropped += 1),
            Err(QueueError::Closed) => return Ok(()),
        }
    }
}

/// Reads the peer's hello (in time, and small), checks it against the
/// node the peer `proven` to be, answers with ours.
async fn greet(
    shared: &Shared,
    stream: &mut Box<dyn Stream>,
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    addr: &str,
    proven: Option<NodeId>,
    deadline: synod_core::time::Instant,
) -> io::Result<NodeId> {
    let cfg = &shared.cfg;
    let hello = Box::pin(read_frame(stream, &shared.hello_codec, buf, scratch));
    let first = match select(hello, shared.runtime.sleep_until(deadline)).await {
        Either::Left((r, _)) => r.map(|(f, _)| f),
        Either::Right(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no hello in time")),
    };
    let refuse = |e: HandshakeError| {
        shared.count(|s| s.rejected += 1);
        tracing::warn!(%addr, error = %e, "handshake refused");
        io::Error::new(io::ErrorKind::PermissionDenied, e)
    };
    let hello = match first {
        Ok(Frame::Hello(h)) => h,
        Ok(_) => return Err(refuse(HandshakeError::NotHello)),
        Err(e) => {
            shared.count(|s| s.rejected += 1);
            tracing::warn!(%addr, error = %e, "no valid hello; disconnecting");
            return Err(e);
        }
    };
    // The claim must be the proof: a peer proven to be node 2 speaks as
    // node 2, whatever its hello says.
    let peer = hello.check(&cfg.cluster_id, cfg.id, proven).map_err(refuse)?;
    if !lock(&shared.peers).addrs.contains_key(&peer) {
        return Err(refuse(HandshakeError::UnknownPeer(peer)));
    }
    let ours = Hello {
        version: crate::codec::frame::VERSION,
        cluster_id: cfg.cluster_id.clone(),
        from: cfg.id,
        to: Some(peer),
    };
    let mut out = BytesMut::new();
    shared.codec.encode(&Frame::Hello(ours), &mut out).map_err(io::Error::other)?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(peer)
}
