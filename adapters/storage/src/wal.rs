//! The write-ahead log: opening a data directory (identity, recovery,
//! cleanup), group-committed appends with segment rolls, and deletion of
//! what snapshots made obsolete. Blocking; [`Storage`](crate::Storage) runs
//! it on its own thread.

use crate::StorageConfig;
use crate::dir::{self, LOCK, segment_path, snapshot_path};
use crate::error::{corrupt, io, poisoned};
use crate::meta::{self, Claim};
use crate::payload::{self, SnapshotRef};
use crate::places::{Place, Places};
use crate::record::{self, HEADER};
use crate::recovery::{self, BatchView, State};
use crate::repair::{self, Repair};
use crate::segment::Active;
use crate::snapshot;
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use synod_core::replica::{Entry, LogRead, Persist, Recovered};
use synod_net::codec::entry::entry_len;
use synod_net::store::StoreError;

/// An open log.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    max_record_bytes: usize,
    active: Active,
    /// The oldest segment still on disk.
    first_segment: u64,
    /// Length of every sealed segment still on disk, by number.
    sealed: BTreeMap<u64, u64>,
    state: State,
    /// Snapshot files on disk, by id, with their lengths; only the last is
    /// current once synced.
    snapshot_files: Vec<(u64, u64)>,
    next_snapshot_id: u64,
    /// Records encoded but not yet written, all for `active`.
    buf: BytesMut,
    /// Batch records in `buf`.
    pending: usize,
    /// The group being written can still be undone: none of its records
    /// is in a sealed segment, and it has not been made durable.
    undoable: bool,
    poisoned: bool,
    /// Held for the store's lifetime: one store per directory.
    _lock: File,
    /// The directory, open: its syncs need no new descriptor.
    handle: File,
    /// The segment the group being written started in, when a roll left
    /// it: undoing the group goes back to it without opening a file.
    previous: Option<Active>,
    /// Where each stored entry is, for read-backs.
    places: Places,
}

/// How long `open` waits for the directory lock before saying another
/// store holds it.
const LOCK_PATIENCE: core::time::Duration = core::time::Duration::from_secs(2);

/// Takes the directory's lock, waiting up to [`LOCK_PATIENCE`] for a
/// holder that is going away: a store of this process that was just closed
/// can still have its lock held by a child process forked (to run some
/// command) before the close and not yet past its `exec`, and a previous
/// server process may be exiting. A live store elsewhere keeps it, and the
/// wait ends in the error.
fn lock_briefly_contended(lock: &File) -> Result<(), std::fs::TryLockError> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match lock.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(core::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

impl Wal {
    /// Opens (or creates) the log in `config`'s directory and recovers it;
    /// returns what was recovered and what recovery discarded.
    pub(crate) fn open(dir: &Path, config: &StorageConfig) -> Result<(Wal, Recovered, Vec<Repair>), StoreError> {
        fs::create_dir_all(dir).map_err(io("create data directory", dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open lock file", &lock_path))?;
        lock_briefly_contended(&lock).map_err(|e| StoreError::Io {
            op: "lock data directory (is another store open on it?)",
            path: lock_path.clone(),
            source: e.into(),
        })?;
        let listing = dir::list(dir)?;
        let claim = meta::check(dir, &config.cluster_id, config.node_id)?;

        // Everything is read and checked before anything is changed.
        let mut scan = recovery::scan(dir, &listing)?;
        meta::check_log(dir, claim, &scan, config.node_id, listing.segments.len())?;
        let snapshot = scan.state.snapshot.as_ref().map(|r| snapshot::read(dir, r)).transpose()?;
        let repairs = repair::plan(dir, &listing, &scan)?;

        let handle = dir::open_dir(dir)?;
        let mut removed = false;
        for r in &repairs {
            r.log();
            if let Some(path) = r.removed_file() {
                dir::remove(path)?;
                removed = true;
            }
        }
        if removed {
            dir::sync_dir(&handle, dir)?;
        }

        let current = scan.state.snapshot.as_ref().map(|r| r.file_id);
        let next_snapshot_id = listing.snapshots.iter().copied().chain(current).max().unwrap_or(0) + 1;
        let sealed = scan.segments.iter().rev().skip(1).map(|s| (s.seq, s.len)).collect();
        let places = core::mem::take(&mut scan.places);
        let snapshot_files = scan.state.snapshot.as_ref().map(|r| (r.file_id, r.len)).into_iter().collect();
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            segment_bytes: config.segment_bytes,
            max_record_bytes: config.max_record_bytes,
            active: match scan.segments.last() {
                // Cuts off the torn tail, if the plan found one.
                Some(s) => Active::resume(dir, s.seq, s.len, s.batches)?,
                None => Active::create(dir, &handle, scan.empty_tail.unwrap_or(1))?,
            },
            first_segment: scan.segments.first().map_or(1, |s| s.seq),
            sealed,
            state: scan.state,
            snapshot_files,
            next_snapshot_id,
            buf: BytesMut::new(),
            pending: 0,
            undoable: false,
            poisoned: false,
            _lock: lock,
            handle,
            previous: None,
            places,
        };
        if wal.active.len == 0 {
            wal.begin_segment();
            wal.flush()?;
        }
        // Only now that the log has a durable record: see `meta`.
        if claim == Claim::Unclaimed {
            meta::claim(dir, &config.cluster_id, config.node_id)?;
        }
        let recovered = Recovered { hard_state: wal.state.hard_state, snapshot, entries: scan.entries };
        Ok((wal, recovered, repairs))
    }

    /// Everything durable, read back from disk.
    pub(crate) fn load(&mut self) -> Result<Recovered, StoreError> {
        if self.poisoned {
            return Err(poisoned(&self.dir));
        }
        let listing = dir::list(&self.dir)?;
        let scan = recovery::scan(&self.dir, &listing)?;
        let snapshot = scan.state.snapshot.as_ref().map(|r| snapshot::read(&self.dir, r)).transpose()?;
        Ok(Recovered { hard_state: scan.state.hard_state, snapshot, entries: scan.entries })
    }

    /// Writes `batches`, one record each, and makes them durable with one
    /// fdatasync (more only if the group spans a segment roll).
    pub(crate) fn persist(&mut self, batches: &[Persist]) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(poisoned(&self.dir));
        }
        // Refused before anything is written, so the store stays usable.
        let max = self.max_record_bytes;
        for p in batches {
            let size = HEADER + batch_len(p);
            if size > max {
                return Err(StoreError::TooLarge { size, max });
            }
        }
        let mark = self.mark();
        let result = self.write_group(batches);
        match result {
            Err(e) if e.is_retryable() && self.undoable => {
                if let Err(undo) = self.undo(mark) {
                    self.poisoned = true;
                    return Err(undo);
                }
                Err(e)
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Reads stored entries back for `read` (from `read.from`, within its
    /// range and budgets): record by record, each checked as recovery
    /// checks it. Fewer than asked (or none) if the log no longer holds
    /// them; a damaged record is [`StoreError::Corrupt`].
    pub(crate) fn read(&mut self, read: &LogRead) -> Result<Vec<Entry>, StoreError> {
        if self.poisoned {
            return Err(poisoned(&self.dir));
        }
        let mut found: Vec<Entry> = Vec::new();
        let mut bytes = 0usize;
        let mut next = read.from;
        let mut file: Option<(u64, File)> = None;
        while next <= read.to && found.len() < read.max_entries && bytes <= read.max_bytes {
            // Storage holds the log from its snapshot on: a read from
            // before it starts at its first entry, as `MemStore`'s does
            // (the replica then refuses what it did not ask for).
            let Some(place) = self.places.find(next) else { break };
            next = next.max(place.first);
            if next > read.to {
                break;
            }
            if file.as_ref().is_none_or(|(seq, _)| *seq != place.segment) {
                let path = segment_path(&self.dir, place.segment);
                file = Some((place.segment, File::open(&path).map_err(io("open segment", &path))?));
            }
            let Some((_, f)) = file.as_mut() else { break };
            let batch = read_batch(f, &segment_path(&self.dir, place.segment), place)?;
            for e in batch.entries.into_iter().filter(|e| e.index >= next && e.index <= place.last) {
                bytes = bytes.saturating_add(e.size());
                found.push(e);
            }
            next = place.last.next();
        }
        Ok(read.take(found))
    }

    /// Bytes the log takes on disk: segments and snapshot files.
    pub(crate) fn usage(&self) -> u64 {
        self.sealed.values().sum::<u64>() + self.active.len + self.snapshot_files.iter().map(|(_, l)| l).sum::<u64>()
    }

    /// Where the log stands between groups, to undo a group to.
    fn mark(&mut self) -> Mark {
        self.undoable = true;
        self.previous = None;
        Mark {
            state: self.state.clone(),
            seq: self.active.seq,
            len: self.active.len,
            batches: self.active.batches,
            sealed: self.sealed.clone(),
            snapshot_files: self.snapshot_files.clone(),
            next_snapshot_id: self.next_snapshot_id,
        }
    }

    /// Undoes a group that ran out of room, back to `mark`: what it wrote
    /// to segments is cut off and made durable first, so that no record of
    /// it can outlive the snapshot files it references, which go next.
    /// Possible only while every byte of the group is in segments made
    /// after `mark` or past `mark`'s length in its segment, and the group
    /// is not yet durable (`undoable`).
    fn undo(&mut self, mark: Mark) -> Result<(), StoreError> {
        self.buf.clear();
        self.pending = 0;
        let newest = self.active.seq.max(mark.seq + 1);
        if let Some(previous) = self.previous.take() {
            self.active = previous;
        }
        self.active.rewind(mark.len, mark.batches)?;
        // A roll may have created the next segment even if it failed.
        for seq in mark.seq + 1..=newest {
            dir::remove(&segment_path(&self.dir, seq))?;
        }
        dir::sync_dir(&self.handle, &self.dir)?;
        for id in mark.next_snapshot_id..self.next_snapshot_id {
            snapshot::remove(&self.dir, id)?;
        }
        self.state = mark.state;
        self.sealed = mark.sealed;
        self.snapshot_files = mark.snapshot_files;
        self.next_snapshot_id = mark.next_snapshot_id;
        Ok(())
    }

    fn write_group(&mut self, batches: &[Persist]) -> Result<(), StoreError> {
        let batches: Vec<&Persist> = batches.iter().filter(|p| !p.is_empty()).collect();
        if batches.is_empty() {
            return Ok(());
        }
        // Snapshot files first: each must be durable before the record that
        // makes it current can be.
        let mut refs: Vec<Option<SnapshotRef>> = Vec::with_capacity(batches.len());
        for p in &batches {
            refs.push(match &p.snapshot {
                Some(s) => {
                    let id = self.next_snapshot_id;
                    self.next_snapshot_id += 1;
                    let r = snapshot::write(&self.dir, &self.handle, id, s)?;
                    self.snapshot_files.push((id, r.len));
                    Some(r)
                }
                None => None,
            });
        }
        // Where each record lands, applied to `places` once durable (an
        // undone group never reaches them).
        let mut landed = Vec::with_capacity(batches.len());
        for (p, snap) in batches.iter().zip(&refs) {
            let size = (HEADER + batch_len(p)) as u64;
            let full = self.active.len + self.buf.len() as u64 + size > self.segment_bytes;
            if full && self.active.batches + self.pending > 0 {
                self.roll()?;
            }
            landed.push((self.active.seq, self.active.len + self.buf.len() as u64, size));
            let start = record::begin(&mut self.buf);
            payload::put_batch(&mut self.buf, p, snap.as_ref());
            debug_assert_eq!(record::payload_len(&self.buf, start), batch_len(p));
            record::finish(&mut self.buf, start);
            self.pending += 1;
            let view = BatchView {
                truncate_from: p.truncate_from,
                snapshot: snap.as_ref(),
                entries: &p.entries,
                hard_state: p.hard_state,
            };
            self.state.apply(&view, self.active.seq);
        }
        self.flush()?;
        // Durable now: cleaning up below may fail, but never undoes this.
        self.undoable = false;
        for (p, (snap, at)) in batches.iter().zip(refs.iter().zip(landed)) {
            let view = BatchView {
                truncate_from: p.truncate_from,
                snapshot: snap.as_ref(),
                entries: &p.entries,
                hard_state: None,
            };
            self.places.apply(view.truncate_from, snap.as_ref().map(|s| s.meta.index), view.entry_range(), at);
        }
        if refs.iter().any(Option::is_some) {
            self.drop_old_snapshots()?;
        }
        self.drop_old_segments()
    }

    /// Writes what is buffered and makes it durable.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.active.write(&self.buf)?;
        self.active.batches += self.pending;
        self.pending = 0;
        self.buf.clear();
        self.active.sync()
    }

    /// Seals the active segment and starts the next one.
    fn roll(&mut self) -> Result<(), StoreError> {
        // The old segment is durable before anything in the new one can be,
        // so only the last segment can ever end in a torn record.
        self.undoable &= self.pending == 0;
        self.flush()?;
        self.sealed.insert(self.active.seq, self.active.len);
        let next = Active::create(&self.dir, &self.handle, self.active.seq + 1)?;
        let sealed = core::mem::replace(&mut self.active, next);
        if self.undoable {
            self.previous = Some(sealed);
        }
        self.begin_segment();
        Ok(())
    }

    /// Buffers the checkpoint that opens the active segment.
    fn begin_segment(&mut self) {
        let start = record::begin(&mut self.buf);
        payload::put_checkpoint(&mut self.buf, &self.state.checkpoint(self.active.seq));
        record::finish(&mut self.buf, start);
    }

    /// Removes snapshot files older than the current one, now that the
    /// record referencing it is durable.
    fn drop_old_snapshots(&mut self) -> Result<(), StoreError> {
        let current = self.state.snapshot.as_ref().map(|r| r.file_id);
        for &(id, _) in self.snapshot_files.iter().filter(|(id, _)| Some(*id) != current) {
            dir::remove(&snapshot_path(&self.dir, id))?;
        }
        self.snapshot_files.retain(|(id, _)| Some(*id) == current);
        Ok(())
    }

    /// Removes segments that hold no live entry, oldest first so that what
    /// remains is always a contiguous run (see [`live`](crate::live)).
    fn drop_old_segments(&mut self) -> Result<(), StoreError> {
        let keep_from = self.state.live.oldest_segment().map_or(self.active.seq, |s| s.min(self.active.seq));
        if keep_from <= self.first_segment {
            return Ok(());
        }
        for seq in self.first_segment..keep_from {
            dir::remove(&segment_path(&self.dir, seq))?;
            self.sealed.remove(&seq);
            self.first_segment = seq + 1;
        }
        dir::sync_dir(&self.handle, &self.dir)
    }
}

/// What [`Wal::undo`] restores.
struct Mark {
    state: State,
    seq: u64,
    len: u64,
    batches: usize,
    sealed: BTreeMap<u64, u64>,
    snapshot_files: Vec<(u64, u64)>,
    next_snapshot_id: u64,
}

/// The batch record at `place` in segment file `f` (at `path`), checked.
fn read_batch(f: &mut File, path: &Path, place: Place) -> Result<payload::Batch, StoreError> {
    let mut buf = vec![0u8; place.len as usize];
    f.seek(SeekFrom::Start(place.offset)).map_err(io("seek", path))?;
    f.read_exact(&mut buf).map_err(io("read segment", path))?;
    let (records, end) = record::scan(&buf);
    let range = match (records.as_slice(), end) {
        ([(_, range)], record::End::Clean) => range.clone(),
        _ => return Err(corrupt(path, place.offset, "a stored entry's record does not read back whole")),
    };
    match payload::decode(bytes::Bytes::from(buf).slice(range)) {
        Ok(payload::Record::Batch(b)) => Ok(b),
        Ok(_) => Err(corrupt(path, place.offset, "a stored entry's record is not a batch")),
        Err(e) => Err(corrupt(path, place.offset, format!("undecodable record: {e}"))),
    }
}

/// Payload bytes [`payload::put_batch`] writes for `p`.
fn batch_len(p: &Persist) -> usize {
    let hard_state = |hs: &synod_core::replica::HardState| 8 + 1 + 8 * usize::from(hs.vote.is_some()) + 8;
    2 + p.truncate_from.map_or(0, |_| 8)
        + p.snapshot.as_ref().map_or(0, |s| 16 + s.meta.membership.encoded_len() + 20)
        + p.hard_state.as_ref().map_or(0, hard_state)
        + 4
        + p.entries.iter().map(entry_len).sum::<usize>()
}
