//! `synod recover`: a cluster that lost a majority of its voters for good
//! cannot elect a leader, commit or change its membership again (every
//! step needs a majority of the configuration in force). Recovery starts a
//! new cluster of one voter from a survivor's data, which then grows with
//! `synod member add` — etcd's `--force-new-cluster`, as a separate,
//! explicit step on a stopped node.
//!
//! The survivor's directory is read, never written into (beyond the
//! repairs opening any store makes: a torn last record cut off). The new
//! directory gets its snapshot and every entry of its log — uncommitted
//! ones included: an entry the old leader acknowledged may be committed
//! without this survivor knowing, and dropping it would lose an
//! acknowledged write. A write that timed out may therefore take effect,
//! as it could have anyway. Configuration entries become no-ops and the
//! snapshot's configuration the new one-voter configuration, so no old
//! member counts in a quorum again.

use crate::args::RecoverArgs;
use crate::snapshot::open_fresh;
use bytes::Bytes;
use synod_core::id::NodeId;
use synod_core::replica::{Entry, EntryKind, Membership, Persist, PersistId};
use synod_net::store::LogStore;
use synod_storage::{Storage, StorageConfig};

type Error = String;

/// Entry bytes per written batch, well under the store's record limit.
const BATCH_BYTES: usize = 8 << 20;

/// Runs `synod recover`.
pub fn recover(a: RecoverArgs) -> Result<(), Error> {
    let id = NodeId(a.id);
    let cluster_id = a.cluster_id.clone().unwrap_or_else(|| a.from_cluster_id.clone());
    let mut old = Storage::open(&a.from, StorageConfig::new(a.from_cluster_id.clone(), id))
        .map_err(|e| format!("{} (stop the node first): {e}", a.from.display()))?;
    let recovered = futures::executor::block_on(old.load()).map_err(|e| format!("{}: {e}", a.from.display()))?;
    drop(old);
    let alone = Membership::voters_only([id])
        .and_then(|m| m.with_addresses([(id, Bytes::from(a.address.clone()))]))
        .map_err(|e| format!("--address: {e}"))?;

    let mut batches = Vec::new();
    let mut snapshot = recovered.snapshot;
    if let Some(s) = snapshot.as_mut() {
        s.meta.membership = alone.clone();
    }
    let last = recovered.entries.last().map_or(snapshot.as_ref().map_or(0, |s| s.meta.index.0), |e| e.index.0);
    let mut dropped_configs = 0;
    let mut chunk: Vec<Entry> = Vec::new();
    let mut chunk_bytes = 0;
    for mut e in recovered.entries {
        if e.kind == EntryKind::Membership {
            // Keeps its place in the log; applies nothing.
            e = Entry { kind: EntryKind::Noop, data: Bytes::new(), ..e };
            dropped_configs += 1;
        }
        chunk_bytes += e.data.len();
        chunk.push(e);
        if chunk_bytes >= BATCH_BYTES {
            batches.push(core::mem::take(&mut chunk));
            chunk_bytes = 0;
        }
    }
    if !chunk.is_empty() {
        batches.push(chunk);
    }

    let mut store = open_fresh(&a.data_dir, &cluster_id, id)?;
    let mut writes = vec![Persist { id: PersistId(1), snapshot, ..Default::default() }];
    for (i, entries) in batches.into_iter().enumerate() {
        writes.push(Persist { id: PersistId(i as u64 + 2), entries, ..Default::default() });
    }
    // Last, so the hard state never names a commit index past the log.
    let n = writes.len() as u64 + 1;
    writes.push(Persist { id: PersistId(n), hard_state: Some(recovered.hard_state), ..Default::default() });
    writes.retain(|w| !w.is_empty());
    futures::executor::block_on(store.persist(writes)).map_err(|e| format!("{}: {e}", a.data_dir.display()))?;
    drop(store);

    println!(
        "recovered node {} into {}: log to index {last} (commit {} as the survivor knew it), term {}; \
         {dropped_configs} configuration entries dropped",
        a.id,
        a.data_dir.display(),
        recovered.hard_state.commit.0,
        recovered.hard_state.term.0,
    );
    println!("the only voter now is node {} at {}. Start it with:", a.id, a.address);
    println!(
        "  synod node --id {} --cluster-id {cluster_id} --members {}={} --data-dir {} ...",
        a.id,
        a.id,
        a.address,
        a.data_dir.display()
    );
    println!("then add members back with synod member add / promote. Never start the old members again");
    if cluster_id == a.from_cluster_id {
        println!(
            "on their old data: they share cluster id {cluster_id:?}, and a majority of the old configuration \
             would elect a second leader"
        );
    } else {
        println!("on their old data (their cluster id {:?} is refused by the new cluster).", a.from_cluster_id);
    }
    Ok(())
}
