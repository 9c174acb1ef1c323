//! One client connection: read, parse, run, reply — within the limits of
//! [`super::limits`].
//!
//! The loop parses and runs every complete request it has, appending
//! replies to an output buffer that is written out whenever it passes
//! [`FLUSH_AT`], and once the requests run out. While replies are being
//! written nothing more is read or run, so the output buffer is bounded by
//! [`FLUSH_AT`] plus one reply, however deep the client pipelines. Every
//! wait has a deadline: between requests the idle timeout (if set), inside
//! a request or behind unread replies the stall timeout, each counted from
//! the last byte that moved.

use super::Server;
use super::commands::{self, Client, Next};
use super::limits::FLUSH_AT;
use super::parse::RequestParser;
use super::reply;
use bytes::BytesMut;
use core::net::SocketAddr;
use futures::FutureExt;
use futures::future::{Either, select};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};
use std::io;
use synod_core::time::Duration;
use synod_net::stream::Stream;

/// Bytes asked of the socket per read. They land in a buffer zeroed once
/// per connection and are copied into the request buffer: a client that
/// sends a byte at a time costs a byte of work per byte, not a fresh
/// zeroed read buffer per read.
const READ: usize = 16 << 10;

/// Serves one client connection (from `addr`, where known) until it
/// closes, breaks the protocol, or idles or stalls past its limits.
pub async fn connection(stream: Box<dyn Stream>, addr: Option<SocketAddr>, server: &Server) -> io::Result<()> {
    let mut c = Conn {
        stream,
        server,
        client: Client::new(server, addr),
        parser: RequestParser::new(server.policy.limits.parse),
        inbuf: BytesMut::new(),
        scratch: vec![0; READ],
        out: BytesMut::new(),
    };
    c.run().await
}

struct Conn<'a> {
    stream: Box<dyn Stream>,
    server: &'a Server,
    client: Client,
    parser: RequestParser,
    inbuf: BytesMut,
    scratch: Vec<u8>,
    out: BytesMut,
}

impl Conn<'_> {
    async fn run(&mut self) -> io::Result<()> {
        loop {
            while let Some(args) = match self.parser.next(&mut self.inbuf) {
                Ok(args) => args,
                Err(e) => {
                    self.encode(&reply::err(&format!("ERR Protocol error: {e}")), false);
                    return self.flush().await;
                }
            } {
                let (answer, next) = commands::execute(self.server, &mut self.client, args).await;
                let map = self.client.take_map_reply();
                self.encode(&answer, map);
                if matches!(next, Next::Close) {
                    return self.flush().await;
                }
                if self.out.len() >= FLUSH_AT {
                    self.flush().await?;
                }
            }
            self.flush().await?;
            if !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// Appends a reply, or an error in its place if it passes the limit;
    /// in RESP3 if the client asked for it, `map` writing pairs as a map.
    fn encode(&mut self, frame: &BytesFrame, map: bool) {
        let max = self.server.policy.limits.max_reply;
        let len = frame.encode_len(false);
        let too_big;
        let frame = if len > max {
            too_big = reply::err(&format!("ERR reply of {len} bytes passes the limit of {max} (max-reply-bytes)"));
            &too_big
        } else {
            frame
        };
        if self.client.resp3() {
            return super::resp3::encode(&mut self.out, frame, map);
        }
        // Encoding into a growable buffer cannot fail.
        let _ = extend_encode(&mut self.out, frame, false);
    }

    /// The deadline for the next wait: idle between requests, stall inside
    /// one.
    fn patience(&self, idle: bool) -> Option<Duration> {
        if idle { self.server.policy.limits.idle_timeout } else { Some(self.server.policy.limits.stall_timeout) }
    }

    /// Reads more request bytes; false at end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let idle = self.parser.is_idle(self.inbuf.len());
        let wait = self.patience(idle);
        let server = self.server;
        let n = timed(server, self.stream.read(&mut self.scratch), wait).await?;
        self.inbuf.extend_from_slice(&self.scratch[..n]);
        Ok(n > 0)
    }

    /// Writes out every buffered reply; each write must make progress
    /// within the stall timeout.
    async fn flush(&mut self) -> io::Result<()> {
        let (server, wait) = (self.server, Some(self.server.policy.limits.stall_timeout));
        let mut done = 0;
        while done < self.out.len() {
            let n = timed(server, self.stream.write(&self.out[done..]), wait).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        self.out.clear();
        timed(server, self.stream.flush(), wait).await
    }
}

/// `io`, unless `wait` passes first. I/O that is ready at once (the common
/// case: a reply fits the socket buffer) costs no timer.
async fn timed<T>(
    server: &Server,
    mut io: impl Future<Output = io::Result<T>> + Unpin,
    wait: Option<Duration>,
) -> io::Result<T> {
    let Some(wait) = wait else { return io.await };
    if let Some(done) = (&mut io).now_or_never() {
        return done;
    }
    let rt = &server.runtime;
    match select(io, rt.sleep_until(rt.now() + wait)).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client made no progress in time")),
    }
}
