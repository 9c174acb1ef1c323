//! # synod-tokio
//!
//! Runs a synod node on tokio: a [`Runtime`] over the tokio scheduler and
//! timers, and TCP for [`synod_net::stream::StreamTransport`] (which does
//! the handshake, batching, bounded queues and reconnects for every stream
//! adapter alike).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::collections::BTreeMap;
//! use synod_core::id::NodeId;
//! use std::sync::Arc;
//! use synod_net::stream::{StreamConfig, Unauthenticated};
//!
//! let runtime = synod_tokio::TokioRuntime::current();
//! let (listener, addr) = synod_tokio::bind("127.0.0.1:0").await?;
//! let peers = BTreeMap::from([(NodeId(2), "127.0.0.1:7002".to_string())]);
//! let cfg = StreamConfig::new(NodeId(1), "demo", peers);
//! // Loopback only: between machines, pass a `synod_tls::TlsAuthenticator`.
//! let transport = synod_tokio::tcp_transport(cfg, listener, runtime, Arc::new(Unauthenticated));
//! # let _ = (transport, addr); Ok(()) }
//! ```

#![forbid(unsafe_code)]

use async_trait::async_trait;
use core::net::SocketAddr;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use synod_core::time::Instant;
use synod_net::runtime::Runtime;
use synod_net::stream::{Authenticator, Connector, Listener, Stream, StreamConfig, StreamTransport};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// The tokio runtime, seen through synod's [`Runtime`] trait.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
    epoch: tokio::time::Instant,
}

impl TokioRuntime {
    /// Wraps the runtime this is called from.
    ///
    /// # Panics
    /// Outside a tokio runtime (a caller bug, as with `tokio::spawn`).
    pub fn current() -> Arc<TokioRuntime> {
        TokioRuntime::with_handle(tokio::runtime::Handle::current())
    }

    /// Wraps the runtime behind `handle`.
    pub fn with_handle(handle: tokio::runtime::Handle) -> Arc<TokioRuntime> {
        Arc::new(TokioRuntime { handle, epoch: tokio::time::Instant::now() })
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.handle.spawn(fut);
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let at = self.epoch + core::time::Duration::from_nanos(deadline.as_nanos().min(u64::MAX / 2));
        Box::pin(tokio::time::sleep_until(at))
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Dials peers over TCP, with Nagle off (consensus messages are small and
/// latency-bound; batching is done above, per peer).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

#[async_trait]
impl Connector for TcpConnector {
    async fn connect(&self, addr: &str) -> io::Result<Box<dyn Stream>> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s.compat()))
    }
}

/// Accepts peers over TCP.
#[derive(Debug)]
pub struct TcpListener(tokio::net::TcpListener);

#[async_trait]
impl Listener for TcpListener {
    async fn accept(&mut self) -> io::Result<(Box<dyn Stream>, String)> {
        let (s, addr) = self.0.accept().await?;
        s.set_nodelay(true)?;
        Ok((Box::new(s.compat_write()), addr.to_string()))
    }
}

/// Binds a listener; `127.0.0.1:0` picks a free port, returned with it.
pub async fn bind(addr: &str) -> io::Result<(TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let local = l.local_addr()?;
    Ok((TcpListener(l), local))
}

/// A stream transport over TCP on tokio.
/// Every connection is first secured by `auth`: `synod_tls::TlsAuthenticator`
/// for mutual TLS on the cluster CA, or
/// [`Unauthenticated`](synod_net::stream::Unauthenticated) on loopback.
pub fn tcp_transport(
    cfg: StreamConfig,
    listener: TcpListener,
    runtime: Arc<TokioRuntime>,
    auth: Arc<dyn Authenticator>,
) -> Arc<StreamTransport> {
    StreamTransport::start(cfg, Arc::new(TcpConnector), Box::new(listener), runtime, auth)
}
