//! The RESP front end fed arbitrary client bytes, over a store applied in
//! place: every reply is well-formed RESP, garbage closes the connection,
//! and nothing panics. The first input byte sets how the first 4 KiB
//! arrive (from one byte at a time to 64 KiB reads), so the incremental
//! parser sees every way a request can be cut.

use bytes::Bytes;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use synod::resp::parse::ParseLimits;
use synod::resp::{self, Backend, ClientSlots, Directory, Policy, RespLimits, Server, Users};
use synod::suspicion::Suspicion;
use synod_core::id::LogIndex;
use synod_core::service::{Service, Store};
use synod_core::time::Instant;
use synod_net::client::ClientError;
use synod_net::node::NodeStatus;
use synod_net::runtime::Runtime;

/// A store applied directly: what a one-node cluster would answer.
#[derive(Default)]
struct Local {
    store: Mutex<(Store, u64)>,
}

#[async_trait::async_trait]
impl Backend for Local {
    async fn propose(&self, command: Bytes) -> Result<Bytes, ClientError> {
        let mut g = self.store.lock().unwrap_or_else(|e| e.into_inner());
        // As a node does: what the store would refuse never reaches the log.
        if let Err(refusal) = g.0.check(&command) {
            return Ok(refusal);
        }
        g.1 += 1;
        let index = LogIndex(g.1);
        Ok(g.0.apply(index, &command))
    }

    async fn query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        Ok(self.store.lock().unwrap_or_else(|e| e.into_inner()).0.query(&query))
    }

    async fn status(&self) -> Result<NodeStatus, ClientError> {
        Err(ClientError::Unavailable)
    }
}

/// A connection whose client sends `input` in reads of at most `step`
/// bytes, and whose replies are kept.
struct Pipe {
    input: Vec<u8>,
    read: usize,
    step: usize,
    output: Vec<u8>,
}

/// Reads past this many bytes come whole: every way of cutting a request
/// is met within the first few kilobytes, and large inputs stay fast
/// enough to run by the million.
const CUT_WITHIN: usize = 4096;

impl AsyncRead for Pipe {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let step = if self.read < CUT_WITHIN { self.step } else { usize::MAX };
        let n = (self.input.len() - self.read).min(buf.len()).min(step);
        let start = self.read;
        buf[..n].copy_from_slice(&self.input[start..start + n]);
        self.read += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.output.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A runtime whose timers never fire: the input is all there, so no
/// client ever stalls, and the harness needs no clock.
struct NoClock;

impl Runtime for NoClock {
    fn spawn(&self, _: BoxFuture<'static, ()>) {}
    fn sleep_until(&self, _: Instant) -> BoxFuture<'static, ()> {
        Box::pin(futures::future::pending())
    }
    fn now(&self) -> Instant {
        Instant::ZERO
    }
}

/// Small limits, so the fuzzer reaches every one of them.
fn limits() -> RespLimits {
    let mut l = RespLimits::default();
    l.parse = ParseLimits { max_args: 64, max_request: 16 << 10, max_inline: 1 << 10 };
    l.max_reply = 32 << 10;
    l
}

/// Arbitrary bytes from a client; the first says how they arrive.
pub fn resp_front_end(data: &[u8]) {
    let Some((&how, data)) = data.split_first() else { return };
    let step = [1, 2, 3, 7, 64, 1000, 4096, 1 << 16][usize::from(how % 8)];
    let dir = Directory {
        resp: Arc::new(BTreeMap::new()),
        suspicion: Arc::new(Suspicion::default()),
        clock: Arc::new(|| Instant::ZERO),
    };
    let policy = Policy {
        limits: limits(),
        slots: ClientSlots::new(1),
        users: Users::default(),
        tls: None,
        store: synod_core::service::Config::default(),
        health_window: synod_core::time::Duration::from_millis(500),
        stats: Arc::default(),
        read_mode: synod::tuning::ReadModeOpt::default(),
        reads_at: synod::tuning::ReadsAt::default(),
    };
    let server = Server::new(Arc::new(Local::default()), dir, Arc::new(NoClock), policy);
    let pipe = Pipe { input: data.to_vec(), read: 0, step, output: Vec::new() };
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    let stream: Box<dyn synod_net::stream::Stream> = Box::new(Recorder { pipe, sink });
    let _ = futures::executor::block_on(resp::connection(stream, None, &server));
    let bytes = out.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut rest = &bytes[..];
    // RESP2, or RESP3 once the client said `HELLO 3`: every reply must
    // parse as one or the other.
    while !rest.is_empty() {
        let n = match redis_protocol::resp2::decode::decode(rest) {
            Ok(Some((_, n))) => Some(n),
            _ => redis_protocol::resp3::decode::complete::decode(rest).ok().flatten().map(|(_, n)| n),
        };
        match n {
            Some(n) => rest = &rest[n..],
            None => panic!("the server wrote malformed RESP in {:?}", String::from_utf8_lossy(&bytes)),
        }
    }
}

/// Copies every write into a shared buffer the test can inspect.
struct Recorder {
    pipe: Pipe,
    sink: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recorder {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
