//! [`Storage`]: the [`LogStore`] over the write-ahead log. File I/O blocks,
//! so it runs on a thread the store owns; the async methods send it a
//! request over a `futures` channel and await the reply, which works under
//! any executor.

use crate::StorageConfig;
use crate::repair::Repair;
use crate::wal::Wal;
use async_trait::async_trait;
use core::sync::atomic::{AtomicU64, Ordering};
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use synod_core::replica::{Entry, LogRead, Persist, Recovered};
use synod_net::store::{LogStore, StoreError};

enum Request {
    Load(oneshot::Sender<Result<Recovered, StoreError>>),
    Persist(Vec<Persist>, oneshot::Sender<Result<(), StoreError>>),
    Read(LogRead, oneshot::Sender<Result<Vec<Entry>, StoreError>>),
}

/// A write-ahead log with snapshots in one data directory, for one replica.
///
/// [`open`](Storage::open) recovers the directory; [`load`](LogStore::load)
/// returns what was recovered; [`persist`](LogStore::persist) appends one
/// record per batch and returns once all of them are durable. Dropping the
/// store waits for its I/O thread to finish the request in hand.
#[derive(Debug)]
pub struct Storage {
    requests: Option<mpsc::UnboundedSender<Request>>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
    /// Bytes the log takes on disk, as of the last request.
    usage: Arc<AtomicU64>,
    repairs: Vec<Repair>,
}

impl Storage {
    /// Opens the data directory `dir`, creating it and its identity file on
    /// first use, and recovers the log: a torn last record is cut off, a
    /// snapshot file no durable record references is removed (each such
    /// repair is logged and kept in [`repairs`](Storage::repairs)), and
    /// damage anywhere else is [`StoreError::Corrupt`].
    ///
    /// Blocks while it reads the log; call it before entering an async
    /// context, or from a blocking-friendly one.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongCluster`] / [`StoreError::WrongNode`] if `dir`
    /// belongs to another cluster or node, [`StoreError::LogLost`] if it
    /// belongs to this node but its log is gone (the node must be replaced
    /// under a new id), [`StoreError::Corrupt`] for damaged data, [`StoreError::Io`] if the OS refuses (including when
    /// another store holds the directory open).
    pub fn open(dir: impl AsRef<Path>, config: StorageConfig) -> Result<Storage, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let config = config.normalized();
        let (wal, recovered, repairs) = Wal::open(&dir, &config)?;
        let usage = Arc::new(AtomicU64::new(wal.usage()));
        let (tx, rx) = mpsc::unbounded();
        let shared = usage.clone();
        let thread = std::thread::Builder::new()
            .name("synod-storage".into())
            .spawn(move || serve(wal, Some(recovered), rx, &shared))
            .map_err(crate::error::io("spawn storage thread", &dir))?;
        Ok(Storage { requests: Some(tx), thread: Some(thread), dir, usage, repairs })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What [`open`](Storage::open) discarded to recover the log, in the
    /// order it did; empty after a clean shutdown.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    fn send(&self, req: Request) -> Result<(), StoreError> {
        self.requests.as_ref().ok_or(StoreError::Closed)?.unbounded_send(req).map_err(|_| StoreError::Closed)
    }
}

/// The I/O thread: one request at a time, in order, until the store is dropped.
fn serve(mut wal: Wal, mut recovered: Option<Recovered>, mut rx: mpsc::UnboundedReceiver<Request>, usage: &AtomicU64) {
    while let Some(req) = futures::executor::block_on(rx.next()) {
        match req {
            Request::Load(reply) => {
                // What open recovered is current until the first write.
                let r = match recovered.take() {
                    Some(r) => Ok(r),
                    None => wal.load(),
                };
                let _ = reply.send(r);
            }
            Request::Persist(batches, reply) => {
                recovered = None;
                let result = wal.persist(&batches);
                usage.store(wal.usage(), Ordering::Relaxed);
                let _ = reply.send(result);
            }
            Request::Read(read, reply) => {
                let _ = reply.send(wal.read(&read));
            }
        }
    }
}

#[async_trait]
impl LogStore for Storage {
    async fn load(&mut self) -> Result<Recovered, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Load(tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn persist(&mut self, batches: Vec<Persist>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Persist(batches, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_entries(&mut self, read: LogRead) -> Result<Vec<Entry>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Read(read, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn usage(&self) -> Option<u64> {
        Some(self.usage.load(Ordering::Relaxed))
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; joining releases the
        // directory lock before the drop returns, so a reopen succeeds.
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
