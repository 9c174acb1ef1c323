//! A file system that runs out of room: the write is refused with a
//! retryable error, nothing of it is kept, the store stays usable, and the
//! same write succeeds once there is room. Runs on a small tmpfs, which
//! needs root to mount; CI sets `SYNOD_REQUIRE_TMPFS=1` so that a machine
//! where mounting fails is a failure, not a silent skip.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use synod_core::replica::Persist;
use synod_net::store::{LogStore, StoreError};

/// A tmpfs of a fixed size, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, bytes: u64) -> Option<Tmpfs> {
        let path = std::env::temp_dir().join(format!("synod-tmpfs-{name}-{}", std::process::id()));
        fs::create_dir_all(&path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Tmpfs(path));
        }
        let _ = fs::remove_dir(&path);
        assert!(std::env::var_os("SYNOD_REQUIRE_TMPFS").is_none(), "cannot mount a tmpfs, and CI requires it");
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        None
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = fs::remove_dir(&self.0);
    }
}

/// Fills the file system but for about `free` bytes.
fn fill(dir: &Path, free: u64) -> PathBuf {
    let filler = dir.join("filler");
    let mut size = 0u64;
    let chunk = vec![7u8; 4096];
    use std::io::Write;
    let mut f = fs::File::create(&filler).unwrap();
    while f.write_all(&chunk).is_ok() {
        size += chunk.len() as u64;
    }
    drop(f);
    let keep = size.saturating_sub(free);
    fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(keep).unwrap();
    filler
}

/// Bytes of every segment and snapshot file in `dir`.
fn on_disk(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".wal") || e.file_name().to_string_lossy().ends_with(".snap")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_full_disk_refuses_the_write_keeps_none_of_it_and_takes_it_once_there_is_room() {
    // Several amounts of room, so the refused write lands mid-segment in
    // some runs and on a segment roll in others.
    for (run, free) in [40u64 << 10, 72 << 10, 100 << 10, 130 << 10].into_iter().enumerate() {
        let Some(fs_) = Tmpfs::mount(&format!("full-{run}"), 2 << 20) else { return };
        let dir = fs_.path().join("data");
        let mut s = open(&dir, 48 << 10).unwrap();
        let filler = fill(fs_.path(), free);
        let mut acked: Vec<Persist> = Vec::new();
        let mut next = 1u64;
        let refused = loop {
            let b = Persist { entries: entries(next, next + 3, 1, 3000), ..batch(next) };
            match persist(&mut s, vec![b.clone()]) {
                Ok(()) => {
                    acked.push(b);
                    next += 4;
                }
                Err(e) => {
                    assert!(e.is_retryable(), "run {run}: {e}");
                    assert!(matches!(e, StoreError::Exhausted { .. }), "run {run}: {e}");
                    break b;
                }
            }
            assert!(next < 10_000, "run {run}: the disk never filled");
        };
        assert!(!acked.is_empty(), "run {run}: nothing fitted");
        // Nothing of the refused write is kept, and the store still reads
        // back exactly what was acknowledged.
        assert_eq!(load(&mut s).unwrap(), model(&acked), "run {run}");
        assert_eq!(s.usage(), Some(on_disk(&dir)), "run {run}");
        // Still no room: refused again, still usable.
        assert!(persist(&mut s, vec![refused.clone()]).unwrap_err().is_retryable());
        // Room again: the same write succeeds, and so do later ones.
        fs::remove_file(&filler).unwrap();
        persist(&mut s, vec![refused.clone()]).unwrap();
        acked.push(refused);
        let more = Persist { entries: entries(next + 4, next + 5, 1, 100), ..batch(next + 1) };
        persist(&mut s, vec![more.clone()]).unwrap();
        acked.push(more);
        assert_eq!(s.usage(), Some(on_disk(&dir)), "run {run}");
        drop(s);
        assert_eq!(reload(&dir, 48 << 10).unwrap(), model(&acked), "run {run}");
    }
}

#[test]
fn a_snapshot_that_does_not_fit_leaves_no_file_and_the_old_one_current() {
    let Some(fs_) = Tmpfs::mount("snap", 2 << 20) else { return };
    let dir = fs_.path().join("data");
    let mut s = open(&dir, 1 << 20).unwrap();
    let first = vec![
        Persist { entries: entries(1, 10, 1, 100), ..batch(1) },
        Persist { snapshot: Some(snapshot(5, 1, 1000)), ..batch(2) },
    ];
    persist(&mut s, first.clone()).unwrap();
    let filler = fill(fs_.path(), 64 << 10);
    let before = names_with(&dir, ".snap");
    let usage = s.usage();
    let big = Persist { snapshot: Some(snapshot(10, 1, 256 << 10)), ..batch(3) };
    let e = persist(&mut s, vec![big.clone()]).unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(names_with(&dir, ".snap"), before, "the refused snapshot left a file");
    assert!(names_with(&dir, ".tmp").is_empty(), "the refused snapshot left a temporary file");
    assert_eq!(s.usage(), usage);
    assert_eq!(load(&mut s).unwrap(), model(&first));
    fs::remove_file(filler).unwrap();
    persist(&mut s, vec![big.clone()]).unwrap();
    drop(s);
    let all: Vec<Persist> = first.into_iter().chain([big]).collect();
    assert_eq!(reload(&dir, 1 << 20).unwrap(), model(&all));
    assert_eq!(names_with(&dir, ".snap").len(), 1, "the old snapshot file was removed");
}

#[test]
fn usage_counts_segments_and_snapshots_and_falls_when_a_snapshot_compacts_them() {
    let dir = TempDir::in_memory("usage");
    let mut s = open(dir.path(), 16 << 10).unwrap();
    assert_eq!(s.usage(), Some(on_disk(dir.path())));
    for i in 0..20u64 {
        let b = Persist { entries: entries(i * 4 + 1, i * 4 + 4, 1, 1000), ..batch(i + 1) };
        persist(&mut s, vec![b]).unwrap();
        assert_eq!(s.usage(), Some(on_disk(dir.path())), "after batch {i}");
    }
    let grown = s.usage().unwrap();
    assert!(grown > 80_000, "{grown}");
    persist(&mut s, vec![Persist { snapshot: Some(snapshot(80, 1, 500)), ..batch(21) }]).unwrap();
    assert_eq!(s.usage(), Some(on_disk(dir.path())));
    assert!(s.usage().unwrap() < grown / 2, "compaction freed nothing: {:?}", s.usage());
    drop(s);
    let s = open(dir.path(), 16 << 10).unwrap();
    assert_eq!(s.usage(), Some(on_disk(dir.path())), "after a reopen");
}
