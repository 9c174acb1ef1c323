//! Shared by the storage tests: temporary directories, batch builders, and
//! the reference model (`apply_batch`, as `MemStore` applies it).

#![allow(dead_code)]

use bytes::Bytes;
use core::sync::atomic::{AtomicU64, Ordering};
use futures::executor::block_on;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, HardState, Membership, Persist, PersistId, Recovered, Snapshot, SnapshotMeta};
use synod_net::store::{LogStore, StoreError, apply_batch};
use synod_storage::{Storage, StorageConfig};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// On the system's temp dir: a real disk, for tests of durability.
    pub fn new(name: &str) -> TempDir {
        TempDir::under(&std::env::temp_dir(), name)
    }

    /// In memory (`/dev/shm`) where there is one, for tests of the format
    /// and recovery logic that open a store thousands of times and need no
    /// real fsync.
    pub fn in_memory(name: &str) -> TempDir {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        TempDir::under(&base, name)
    }

    fn under(base: &Path, name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("synod-storage-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn config(segment_bytes: u64) -> StorageConfig {
    StorageConfig { segment_bytes, ..StorageConfig::new("test-cluster", NodeId(1)) }
}

pub fn open(dir: &Path, segment_bytes: u64) -> Result<Storage, StoreError> {
    Storage::open(dir, config(segment_bytes))
}

pub fn load(s: &mut Storage) -> Result<Recovered, StoreError> {
    block_on(s.load())
}

pub fn persist(s: &mut Storage, batches: Vec<Persist>) -> Result<(), StoreError> {
    block_on(s.persist(batches))
}

/// Opens `dir`, loads it, and closes it again.
pub fn reload(dir: &Path, segment_bytes: u64) -> Result<Recovered, StoreError> {
    let mut s = open(dir, segment_bytes)?;
    load(&mut s)
}

/// What applying `batches` in order leaves: the reference semantics.
pub fn model<'a>(batches: impl IntoIterator<Item = &'a Persist>) -> Recovered {
    let mut r = Recovered::default();
    for b in batches {
        apply_batch(&mut r, b);
    }
    r
}

/// A payload that differs per index and term, with every byte value in it.
pub fn data(index: u64, term: u64, len: usize) -> Bytes {
    (0..len).map(|k| (index as usize * 31 + term as usize * 7 + k) as u8).collect::<Vec<u8>>().into()
}

pub fn entry(index: u64, term: u64, len: usize) -> Entry {
    Entry::command(LogIndex(index), Term(term), data(index, term, len))
}

pub fn entries(from: u64, to: u64, term: u64, len: usize) -> Vec<Entry> {
    (from..=to).map(|i| entry(i, term, len)).collect()
}

pub fn hard_state(term: u64, vote: Option<u64>, commit: u64) -> HardState {
    HardState { term: Term(term), vote: vote.map(NodeId), commit: LogIndex(commit) }
}

pub fn snapshot(index: u64, term: u64, len: usize) -> Snapshot {
    let membership = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap();
    Snapshot { meta: SnapshotMeta { index: LogIndex(index), term: Term(term), membership }, data: data(index, 99, len) }
}

pub fn batch(id: u64) -> Persist {
    Persist { id: PersistId(id), ..Default::default() }
}

/// Every file in `dir`, by name.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Replaces `dir`'s contents with `files`.
pub fn restore(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for e in fs::read_dir(dir).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

pub fn names_with(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = files(dir).into_keys().filter(|n| n.ends_with(ext)).collect();
    v.sort();
    v
}
