//! The dialing side: one task per peer that connects, handshakes, and
//! writes batches from the peer's queue, reconnecting with backoff.

use super::{Connector, Shared, Stream};
use crate::codec::{Frame, FrameCodec, HandshakeError, Hello};
use crate::queue::BoundedQueue;
use crate::sync::Arc;
use bytes::BytesMut;
use futures::future::{Either, select};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use std::io;
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::time::{Duration, duration_nanos};

pub(super) struct Dialer {
    shared: Arc<Shared>,
    connector: Arc<dyn Connector>,
    peer: NodeId,
    addr: String,
    queue: BoundedQueue<Frame>,
    rng: Rng,
}

impl Dialer {
    pub fn new(
        shared: Arc<Shared>,
        connector: Arc<dyn Connector>,
        peer: NodeId,
        addr: String,
        queue: BoundedQueue<Frame>,
        rng: Rng,
    ) -> Self {
        Dialer { shared, connector, peer, addr, queue, rng }
    }

    pub async fn run(mut self) {
        let mut failures = 0u32;
        // A closed queue: the transport closed, or the peer left the
        // configuration.
        while !self.shared.is_closed() && !self.queue.is_closed() {
            match self.connect().await {
                Ok(stream) => {
                    failures = 0;
                    self.shared.count(|s| s.connects += 1);
                    match self.write_loop(stream).await {
                        Ok(()) => return, // queue closed: shutting down
                        Err(e) => {
                            tracing::debug!(peer = %self.peer, error = %e, "connection lost");
                            // What was written into the dead connection may
                            // be gone: the node takes back what it awaits.
                            self.shared.lost.report(self.peer);
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::info!(peer = %self.peer, addr = %self.addr, error = %e, "cannot reach peer");
                    }
                }
            }
            let delay = self.backoff(failures);
            let deadline = self.shared.runtime.now() + delay;
            self.shared.runtime.sleep_until(deadline).await;
        }
    }

    /// Exponential backoff with full jitter from the seeded generator.
    fn backoff(&mut self, failures: u32) -> Duration {
        let min = duration_nanos(self.shared.cfg.backoff_min).max(1);
        let max = duration_nanos(self.shared.cfg.backoff_max).max(min);
        let cap = min.saturating_mul(1u64 << failures.min(20)).min(max);
        Duration::from_nanos(self.rng.range(min, cap.max(min + 1)))
    }

    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let timeout = self.shared.cfg.handshake_timeout;
        let deadline = self.shared.runtime.now() + timeout;
        let attempt = Box::pin(self.connect_and_greet());
        match select(attempt, self.shared.runtime.sleep_until(deadline)).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect and handshake timed out")),
        }
    }

    async fn connect_and_greet(&self) -> io::Result<Box<dyn Stream>> {
        let stream = self.connector.connect(&self.addr).await?;
        let mut stream = self.shared.auth.dialed(stream, self.peer).await?;
        let cfg = &self.shared.cfg;
        let hello = Hello {
            version: crate::codec::frame::VERSION,
            cluster_id: cfg.cluster_id.clone(),
            from: cfg.id,
            to: Some(self.peer),
        };
        let mut buf = BytesMut::new();
        self.shared.codec.encode(&Frame::Hello(hello), &mut buf).map_err(io::Error::other)?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        // The peer answers with its own hello, which must name it.
        let (frame, _) =
            read_frame(&mut stream, &self.shared.hello_codec, &mut BytesMut::new(), &mut Vec::new()).await?;
        let Frame::Hello(theirs) = frame else {
            self.shared.count(|s| s.rejected += 1);
            return Err(io::Error::other(HandshakeError::NotHello));
        };
        theirs.check(&cfg.cluster_id, cfg.id, Some(self.peer)).map_err(|e| {
            self.shared.count(|s| s.rejected += 1);
            tracing::warn!(peer = %self.peer, addr = %self.addr, error = %e, "handshake refused");
            io::Error::other(e)
        })?;
        Ok(stream)
    }

    /// Drains the queue into one buffer per batch: one write, one flush.
    /// The peer never writes on a connection we dialed, so the read half
    /// only ever sees its end: watching it notices a peer that died (or
    /// restarted) at once, instead of at the next write — which the
    /// kernel would still accept, and whose frame would be lost, as a vote
    /// request after a leader's failure was, costing an election timeout.
    async fn write_loop(&mut self, stream: Box<dyn Stream>) -> io::Result<()> {
        let (mut reader, mut writer) = stream.split();
        let mut closed = Box::pin(async move {
            let mut byte = [0u8; 1];
            match reader.read(&mut byte).await {
                Ok(0) => io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection"),
                Ok(_) => io::Error::new(io::ErrorKind::InvalidData, "the peer wrote on a connection it did not dial"),
                Err(e) => e,
            }
        });
        let mut frames = Vec::new();
        let mut buf = BytesMut::new();
        let traffic = self.shared.traffic.of(self.peer);
        loop {
            frames.clear();
            let more = match select(Box::pin(self.queue.pop_all(&mut frames)), closed.as_mut()).await {
                Either::Left((more, _)) => more,
                Either::Right((e, _)) => return Err(e),
            };
            if !more {
                let _ = writer.close().await;
                return Ok(());
            }
            if self.shared.is_blocked(self.peer) {
                continue;
            }
            buf.clear();
            let mut encoded = 0;
            for f in &frames {
                match self.shared.codec.encode(f, &mut buf) {
                    Ok(()) => encoded += 1,
                    // Too large to send: dropped, the rest still go.
                    Err(e) => tracing::warn!(peer = %self.peer, error = %e, "frame not sent"),
                }
            }
            writer.write_all(&buf).await?;
            writer.flush().await?;
            traffic.sent(encoded, buf.len());
        }
    }
}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one frame of at most `codec`'s size from `stream`, using `buf`
/// for bytes past it. `scratch` is the connection's read buffer, reused
/// across calls.
/// Returns the frame and its encoded size.
pub(super) async fn read_frame(
    stream: &mut Box<dyn Stream>,
    codec: &FrameCodec,
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
) -> io::Result<(Frame, usize)> {
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(f)) => return Ok((f, before - buf.len())),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        // Read into a scratch buffer zeroed once, not a fresh 64 KiB of the
        // frame buffer zeroed on every read.
        if scratch.is_empty() {
            scratch.resize(READ_CHUNK, 0);
        }
        let n = stream.read(scratch).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        buf.extend_from_slice(&scratch[..n]);
    }
}
