//! # synod-smol
//!
//! Runs a synod node on smol: a [`Runtime`] over an `async-executor` and
//! `async-io` timers, and TCP for [`synod_net::stream::StreamTransport`].
//! The same node, storage and transport code as on tokio — only this
//! crate differs.

#![forbid(unsafe_code)]

use async_trait::async_trait;
use core::net::SocketAddr;
use futures::future::BoxFuture;
use std::io;
use std::sync::Arc;
use synod_core::time::Instant;
use synod_net::runtime::Runtime;
use synod_net::stream::{Authenticator, Connector, Listener, Stream, StreamConfig, StreamTransport};

/// smol, seen through synod's [`Runtime`] trait. Tasks run on the given
/// executor; drive it with `executor.run(..)` on as many threads as you like.
#[derive(Clone)]
pub struct SmolRuntime {
    executor: Arc<smol::Executor<'static>>,
    epoch: std::time::Instant,
}

impl core::fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmolRuntime").finish_non_exhaustive()
    }
}

impl SmolRuntime {
    /// Spawns onto `executor`.
    pub fn new(executor: Arc<smol::Executor<'static>>) -> Arc<SmolRuntime> {
        Arc::new(SmolRuntime { executor, epoch: std::time::Instant::now() })
    }

    /// A runtime with its own executor, driven by `threads` background
    /// threads (they run until the process exits).
    pub fn with_threads(threads: usize) -> io::Result<Arc<SmolRuntime>> {
        let executor = Arc::new(smol::Executor::new());
        for i in 0..threads.max(1) {
            let ex = executor.clone();
            std::thread::Builder::new()
                .name(format!("synod-smol-{i}"))
                .spawn(move || smol::block_on(ex.run(futures::future::pending::<()>())))?;
        }
        Ok(SmolRuntime::new(executor))
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.executor.spawn(fut).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let at = self.epoch + core::time::Duration::from_nanos(deadline.as_nanos().min(u64::MAX / 4));
        Box::pin(async move {
            smol::Timer::at(at).await;
        })
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Dials peers over TCP with Nagle off.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

#[async_trait]
impl Connector for TcpConnector {
    async fn connect(&self, addr: &str) -> io::Result<Box<dyn Stream>> {
        let s = smol::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }
}

/// Accepts peers over TCP.
#[derive(Debug)]
pub struct TcpListener(smol::net::TcpListener);

#[async_trait]
impl Listener for TcpListener {
    async fn accept(&mut self) -> io::Result<(Box<dyn Stream>, String)> {
        let (s, addr) = self.0.accept().await?;
        s.set_nodelay(true)?;
        Ok((Box::new(s), addr.to_string()))
    }
}

/// Binds a listener; `127.0.0.1:0` picks a free port, returned with it.
pub async fn bind(addr: &str) -> io::Result<(TcpListener, SocketAddr)> {
    let l = smol::net::TcpListener::bind(addr).await?;
    let local = l.local_addr()?;
    Ok((TcpListener(l), local))
}

/// A stream transport over TCP on smol.
/// Every connection is first secured by `auth`: `synod_tls::TlsAuthenticator`
/// for mutual TLS on the cluster CA, or
/// [`Unauthenticated`](synod_net::stream::Unauthenticated) on loopback.
pub fn tcp_transport(
    cfg: StreamConfig,
    listener: TcpListener,
    runtime: Arc<SmolRuntime>,
    auth: Arc<dyn Authenticator>,
) -> Arc<StreamTransport> {
    StreamTransport::start(cfg, Arc::new(TcpConnector), Box::new(listener), runtime, auth)
}
