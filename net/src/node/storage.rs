//! The storage task: writes batches in order, group-committing whatever
//! queued up while the previous sync ran, and reports what is durable.

use crate::store::{LogStore, StoreError};
use futures::StreamExt;
use futures::channel::mpsc;
use synod_core::replica::{Persist, PersistId};

pub(super) async fn run(
    mut store: Box<dyn LogStore>,
    mut batches: mpsc::UnboundedReceiver<Persist>,
    acks: mpsc::UnboundedSender<Result<PersistId, String>>,
) {
    while let Some(first) = batches.next().await {
        let mut group = vec![first];
        // Everything that arrived meanwhile shares one sync.
        while let Ok(p) = batches.try_recv() {
            group.push(p);
        }
        let last = group.last().map(|p| p.id).unwrap_or_default();
        let result: Result<(), StoreError> = store.persist(group).await;
        let report = result.map(|()| last).map_err(|e| e.to_string());
        let failed = report.is_err();
        if acks.unbounded_send(report).is_err() || failed {
            // A failed write must stop the node: nothing after it may be
            // acknowledged.
            return;
        }
    }
}
