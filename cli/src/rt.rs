//! The runtime the process runs on, chosen at start; everything above it
//! is written once against synod's `Runtime` and `Listener` traits.

use crate::args::RuntimeKind;
use core::future::Future;
use core::net::SocketAddr;
use std::io;
use std::sync::Arc;
use synod_net::runtime::Runtime;
use synod_net::stream::{Connector, Listener};

/// A started runtime.
#[derive(Clone)]
pub enum Rt {
    /// tokio.
    Tokio(Arc<tokio::runtime::Runtime>, Arc<synod_tokio::TokioRuntime>),
    /// smol.
    Smol(Arc<synod_smol::SmolRuntime>),
}

impl Rt {
    /// Starts a runtime of `kind` with `threads` worker threads.
    pub fn start(kind: RuntimeKind, threads: usize) -> io::Result<Rt> {
        Ok(match kind {
            RuntimeKind::Tokio => {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
                let sr = synod_tokio::TokioRuntime::with_handle(rt.handle().clone());
                Rt::Tokio(Arc::new(rt), sr)
            }
            RuntimeKind::Smol => Rt::Smol(synod_smol::SmolRuntime::with_threads(threads)?),
        })
    }

    /// Runs `fut` to completion on this runtime.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match self {
            Rt::Tokio(rt, _) => rt.block_on(fut),
            Rt::Smol(_) => smol::block_on(fut),
        }
    }

    /// Runs `f` inside the runtime's context (for code that must be
    /// started from within tokio).
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        match self {
            Rt::Tokio(rt, _) => {
                let _guard = rt.enter();
                f()
            }
            Rt::Smol(_) => f(),
        }
    }

    /// The runtime as synod sees it.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        match self {
            Rt::Tokio(_, r) => r.clone(),
            Rt::Smol(r) => r.clone(),
        }
    }

    /// Binds a TCP listener (port 0: any free port).
    pub async fn bind(&self, addr: &str) -> io::Result<(Box<dyn Listener>, SocketAddr)> {
        match self {
            Rt::Tokio(..) => synod_tokio::bind(addr).await.map(|(l, a)| (Box::new(l) as Box<dyn Listener>, a)),
            Rt::Smol(_) => synod_smol::bind(addr).await.map(|(l, a)| (Box::new(l) as Box<dyn Listener>, a)),
        }
    }

    /// Dials TCP on this runtime.
    pub fn connector(&self) -> Arc<dyn Connector> {
        match self {
            Rt::Tokio(..) => Arc::new(synod_tokio::TcpConnector),
            Rt::Smol(_) => Arc::new(synod_smol::TcpConnector),
        }
    }
}
