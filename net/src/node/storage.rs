//! The storage task: writes batches in order, group-committing whatever
//! queued up while the previous sync ran, and reports what is durable. It
//! also reads entries back for a replica that keeps only a tail of its
//! log in memory ([`LogRead`]): those entries are durable already, so a
//! read waits only for the group in hand.
//!
//! A write refused for want of room (a full file system, a disk quota,
//! file descriptors) kept nothing, so the task reports the shortage, waits,
//! and writes the same batches again — with whatever queued meanwhile —
//! until they fit: the node turns read-only instead of dying, and resumes
//! by itself once an operator frees space. Any other failure ends the task
//! and stops the node, since nothing after a failed write may be
//! acknowledged.

use crate::runtime::Runtime;
use crate::store::LogStore;
use futures::StreamExt;
use futures::channel::mpsc;
use std::sync::Arc;
use synod_core::replica::{Entry, LogRead, Persist, PersistId};
use synod_core::time::Duration;

/// How long the task waits before writing refused batches again.
const RETRY: Duration = Duration::from_millis(500);

/// What the driver asks of the storage task.
// Writes are the common job and reads the rare one: boxing the write
// would cost an allocation per batch to save bytes on a read.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Job {
    /// Write this batch.
    Persist(Persist),
    /// Read these entries back.
    Read(LogRead),
}

/// What the storage task tells the driver.
#[derive(Debug)]
pub(super) enum Report {
    /// Everything up to `id` is durable; the store takes `usage` bytes.
    Durable { id: PersistId, usage: Option<u64> },
    /// The entries `read` asked for, or why they could not be read.
    Read { read: LogRead, result: Result<Vec<Entry>, String> },
    /// Writes are refused for want of room and will be retried; nothing
    /// since the last `Durable` is.
    Exhausted(String),
    /// The store failed for good; the node must stop.
    Failed(String),
}

pub(super) async fn run(
    mut store: Box<dyn LogStore>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    reports: mpsc::UnboundedSender<Report>,
    runtime: Arc<dyn Runtime>,
    on_sync: Option<super::SyncObserver>,
) {
    let mut group: Vec<Persist> = Vec::new();
    let mut reads: Vec<LogRead> = Vec::new();
    loop {
        if group.is_empty() && reads.is_empty() {
            match jobs.next().await {
                Some(Job::Persist(p)) => group.push(p),
                Some(Job::Read(r)) => reads.push(r),
                None => return,
            }
        }
        // Everything that arrived meanwhile shares one sync.
        while let Ok(job) = jobs.try_recv() {
            match job {
                Job::Persist(p) => group.push(p),
                Job::Read(r) => reads.push(r),
            }
        }
        for read in reads.drain(..) {
            let result = store.read_entries(read).await.map_err(|e| e.to_string());
            if reports.unbounded_send(Report::Read { read, result }).is_err() {
                return;
            }
        }
        if group.is_empty() {
            continue;
        }
        let last = group.last().map(|p| p.id).unwrap_or_default();
        // Kept until durable: a refused group is written again whole. The
        // copy shares every payload.
        let started = runtime.now();
        let report = match store.persist(group.clone()).await {
            Ok(()) => {
                if let Some(observe) = &on_sync {
                    (observe.0)(runtime.now().saturating_duration_since(started), group.len());
                }
                group.clear();
                Report::Durable { id: last, usage: store.usage() }
            }
            Err(e) if e.is_retryable() => Report::Exhausted(e.to_string()),
            Err(e) => Report::Failed(e.to_string()),
        };
        let (retry, failed) = (matches!(report, Report::Exhausted(_)), matches!(report, Report::Failed(_)));
        if reports.unbounded_send(report).is_err() {
            return;
        }
        if failed {
            // The driver learns why from the report; until it reads it, it
            // may still hand over batches. Taking them (and writing none)
            // keeps its sends from failing first with a vaguer reason.
            while jobs.next().await.is_some() {}
            return;
        }
        if retry {
            runtime.sleep_until(runtime.now() + RETRY).await;
        }
    }
}
