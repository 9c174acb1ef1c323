//! Recovery never shortens the log silently: whatever `open` cuts off or
//! removes is reported by `Storage::repairs` (and logged as a warning),
//! saying which file, where, how many bytes, and where the log now ends.

mod common;

use common::*;
use std::fs;
use synod_core::id::LogIndex;
use synod_core::replica::Persist;
use synod_storage::Repair;

#[test]
fn a_torn_last_record_is_cut_and_reported_with_its_offset_and_size() {
    let dir = TempDir::new("repair-torn");
    let batches: Vec<Persist> =
        (1..=3).map(|i| Persist { entries: entries(2 * i - 1, 2 * i, 1, 50), ..batch(i) }).collect();
    let mut s = open(dir.path(), 1 << 20).unwrap();
    assert!(s.repairs().is_empty());
    let seg = dir.path().join(&names_with(dir.path(), ".wal")[0]);
    let mut ends = Vec::new();
    for b in &batches {
        persist(&mut s, vec![b.clone()]).unwrap();
        ends.push(fs::metadata(&seg).unwrap().len());
    }
    drop(s);
    // The third record half on disk: its header says more than there is.
    let cut = (ends[1] + ends[2]) / 2;
    fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();

    let mut s = open(dir.path(), 1 << 20).unwrap();
    let want =
        Repair::TornTail { segment: seg.clone(), offset: ends[1], discarded: cut - ends[1], last_index: LogIndex(4) };
    assert_eq!(s.repairs(), core::slice::from_ref(&want));
    assert_eq!(fs::metadata(&seg).unwrap().len(), ends[1]);
    assert_eq!(load(&mut s).unwrap(), model(&batches[..2]));
    let text = want.to_string();
    assert!(text.contains(&format!("{} bytes from offset {}", cut - ends[1], ends[1])), "{text}");
    assert!(text.contains("ends at index 4"), "{text}");
    drop(s);
    assert!(open(dir.path(), 1 << 20).unwrap().repairs().is_empty(), "a clean reopen repairs nothing");
}

#[test]
fn removed_files_are_reported_each_with_its_size() {
    let dir = TempDir::new("repair-files");
    let mut s = open(dir.path(), 200).unwrap();
    let mut all = Vec::new();
    for i in 1..=6 {
        let b = Persist { entries: entries(i, i, 1, 60), ..batch(i) };
        persist(&mut s, vec![b.clone()]).unwrap();
        all.push(b);
    }
    drop(s);
    let segs = names_with(dir.path(), ".wal");
    let last: u64 = segs.last().unwrap().trim_end_matches(".wal").parse().unwrap();
    // A crash just after the next segment was created, one after a
    // snapshot file was written but before its record, one mid-way
    // through a temporary file.
    let empty = dir.path().join(format!("{:020}.wal", last + 1));
    fs::write(&empty, [0u8; 5]).unwrap();
    let orphan = dir.path().join(format!("{:020}.snap", 42));
    fs::write(&orphan, b"half a snapshot").unwrap();
    let tmp = dir.path().join("00000000000000000043.snap.tmp");
    fs::write(&tmp, b"partial").unwrap();

    let mut s = open(dir.path(), 200).unwrap();
    let want = [
        Repair::TempFile { file: tmp.clone(), discarded: 7 },
        Repair::OrphanSnapshot { file: orphan.clone(), discarded: 15 },
        Repair::EmptySegment { segment: empty.clone(), discarded: 5, last_index: LogIndex(6) },
    ];
    assert_eq!(s.repairs(), want);
    assert_eq!(load(&mut s).unwrap(), model(&all));
    assert!(!tmp.exists() && !orphan.exists() && !empty.exists());
    drop(s);
    assert!(open(dir.path(), 200).unwrap().repairs().is_empty());
}
