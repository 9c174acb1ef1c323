//! The store's contract, scenario by scenario: identity checks, limits,
//! locking, snapshot files, segment files, and damage that must be reported.

mod common;

use common::*;
use std::fs;
use synod_core::id::{LogIndex, NodeId};
use synod_core::replica::{LogRead, Persist};
use synod_net::store::{LogStore, StoreError};
use synod_storage::{Storage, StorageConfig};

#[test]
fn a_directory_of_another_cluster_or_node_is_refused() {
    let dir = TempDir::new("identity");
    let mut s = open(dir.path(), 1 << 20).unwrap();
    persist(&mut s, vec![Persist { entries: entries(1, 1, 1, 3), ..batch(1) }]).unwrap();
    drop(s);
    let other_cluster = StorageConfig::new("other-cluster", NodeId(1));
    match Storage::open(dir.path(), other_cluster) {
        Err(StoreError::WrongCluster { found, expected, .. }) => {
            assert_eq!((found.as_str(), expected.as_str()), ("test-cluster", "other-cluster"));
        }
        other => panic!("{other:?}"),
    }
    match Storage::open(dir.path(), StorageConfig::new("test-cluster", NodeId(2))) {
        Err(StoreError::WrongNode { found: 1, expected: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Refusing changed nothing.
    assert_eq!(reload(dir.path(), 1 << 20).unwrap().entries, entries(1, 1, 1, 3));
}

#[test]
fn a_log_without_its_identity_file_is_refused_not_adopted() {
    let dir = TempDir::new("no-identity");
    let mut s = open(dir.path(), 1 << 20).unwrap();
    persist(&mut s, vec![Persist { entries: entries(1, 2, 1, 3), ..batch(1) }]).unwrap();
    drop(s);
    fs::remove_file(dir.path().join("IDENTITY")).unwrap();
    match reload(dir.path(), 1 << 20) {
        Err(StoreError::Corrupt { file, .. }) => assert!(file.ends_with("IDENTITY")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_damaged_identity_file_is_corruption() {
    let dir = TempDir::new("bad-identity");
    drop(open(dir.path(), 1 << 20).unwrap());
    let path = dir.path().join("IDENTITY");
    let mut b = fs::read(&path).unwrap();
    b[10] ^= 1;
    fs::write(&path, b).unwrap();
    assert!(matches!(reload(dir.path(), 1 << 20), Err(StoreError::Corrupt { file, .. }) if file == path));
}

#[test]
fn a_record_over_the_limit_is_refused_and_the_store_stays_usable() {
    let dir = TempDir::new("too-large");
    let config = StorageConfig { max_record_bytes: 1000, ..config(1 << 20) };
    let mut s = Storage::open(dir.path(), config.clone()).unwrap();
    let small = Persist { entries: entries(1, 1, 1, 100), ..batch(1) };
    let big = Persist { entries: entries(2, 2, 1, 1000), ..batch(2) };
    match persist(&mut s, vec![small.clone(), big]) {
        Err(StoreError::TooLarge { size, max: 1000 }) => assert!(size > 1000),
        other => panic!("{other:?}"),
    }
    // Nothing of the refused call was written, not even the batch before it.
    assert_eq!(load(&mut s).unwrap(), model([]));
    persist(&mut s, vec![small.clone()]).unwrap();
    drop(s);
    let mut s = Storage::open(dir.path(), config).unwrap();
    assert_eq!(load(&mut s).unwrap(), model([&small]));
}

#[test]
fn a_second_store_on_the_same_directory_is_refused_until_the_first_is_dropped() {
    let dir = TempDir::new("lock");
    let first = open(dir.path(), 1 << 20).unwrap();
    assert!(matches!(open(dir.path(), 1 << 20), Err(StoreError::Io { .. })));
    drop(first);
    open(dir.path(), 1 << 20).unwrap();
}

#[test]
fn an_orphan_snapshot_whose_record_never_became_durable_is_removed_and_the_old_one_kept() {
    let dir = TempDir::new("orphan");
    let mut s = open(dir.path(), 1 << 20).unwrap();
    let first = Persist { entries: entries(1, 4, 1, 8), snapshot: Some(snapshot(2, 1, 50)), ..batch(1) };
    persist(&mut s, vec![first.clone()]).unwrap();
    let before = files(dir.path());
    persist(&mut s, vec![Persist { snapshot: Some(snapshot(4, 1, 60)), ..batch(2) }]).unwrap();
    let after = files(dir.path());
    drop(s);
    // A crash after the new snapshot file was renamed into place but before
    // the record naming it was durable: the old log, both files.
    let mut crashed = before.clone();
    crashed.extend(after.into_iter().filter(|(n, _)| n.ends_with(".snap")));
    assert_eq!(crashed.keys().filter(|n| n.ends_with(".snap")).count(), 2);
    restore(dir.path(), &crashed);
    assert_eq!(reload(dir.path(), 1 << 20).unwrap(), model([&first]));
    let snaps = names_with(dir.path(), ".snap");
    assert_eq!(snaps, before.keys().filter(|n| n.ends_with(".snap")).cloned().collect::<Vec<_>>());
    // A half-written temporary file is removed too.
    fs::write(dir.path().join("00000000000000000009.snap.tmp"), b"partial").unwrap();
    assert_eq!(reload(dir.path(), 1 << 20).unwrap(), model([&first]));
    assert!(names_with(dir.path(), ".tmp").is_empty());
}

#[test]
fn a_snapshot_deletes_the_segments_it_covers_and_the_older_snapshot_file() {
    let dir = TempDir::new("compaction");
    let mut s = open(dir.path(), 300).unwrap();
    let mut all = Vec::new();
    for i in 1..=20 {
        let b = Persist { entries: entries(i, i, 1, 64), ..batch(i) };
        persist(&mut s, vec![b.clone()]).unwrap();
        all.push(b);
    }
    let before = names_with(dir.path(), ".wal").len();
    assert!(before >= 5, "{before} segments");
    let snap = Persist { snapshot: Some(snapshot(18, 1, 10)), ..batch(21) };
    persist(&mut s, vec![snap.clone()]).unwrap();
    all.push(snap);
    let after = names_with(dir.path(), ".wal").len();
    assert!(after <= 2, "{after} of {before} segments left");
    assert_eq!(load(&mut s).unwrap(), model(&all));
    drop(s);
    assert_eq!(reload(dir.path(), 300).unwrap(), model(&all));
    assert_eq!(names_with(dir.path(), ".snap").len(), 1);
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = TempDir::new("big-record");
    let mut s = open(dir.path(), 256).unwrap();
    let batches: Vec<Persist> = (1..=3).map(|i| Persist { entries: entries(i, i, 1, 1000), ..batch(i) }).collect();
    persist(&mut s, batches.clone()).unwrap();
    assert_eq!(names_with(dir.path(), ".wal").len(), 3);
    drop(s);
    assert_eq!(reload(dir.path(), 256).unwrap(), model(&batches));
}

#[test]
fn a_missing_segment_in_the_middle_is_corruption() {
    let dir = TempDir::new("gap");
    let mut s = open(dir.path(), 200).unwrap();
    for i in 1..=10 {
        persist(&mut s, vec![Persist { entries: entries(i, i, 1, 60), ..batch(i) }]).unwrap();
    }
    drop(s);
    let segs = names_with(dir.path(), ".wal");
    assert!(segs.len() >= 3);
    fs::remove_file(dir.path().join(&segs[1])).unwrap();
    match reload(dir.path(), 200) {
        Err(StoreError::Corrupt { file, .. }) => assert!(file.ends_with(&segs[1]), "{}", file.display()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn zeros_after_the_last_record_are_a_torn_write_but_zeros_before_a_record_are_damage() {
    let dir = TempDir::new("zeros");
    let mut s = open(dir.path(), 1 << 20).unwrap();
    let batches: Vec<Persist> = (1..=3).map(|i| Persist { entries: entries(i, i, 1, 700), ..batch(i) }).collect();
    persist(&mut s, batches.clone()).unwrap();
    drop(s);
    let seg = dir.path().join(&names_with(dir.path(), ".wal")[0]);
    let good = fs::read(&seg).unwrap();

    // The file grew but the last sectors never reached the disk.
    let mut torn = good.clone();
    let len = torn.len();
    torn[len - 600..].fill(0);
    torn.extend_from_slice(&[0; 1024]);
    fs::write(&seg, &torn).unwrap();
    assert_eq!(reload(dir.path(), 1 << 20).unwrap(), model(&batches[..2]));
    assert!(fs::metadata(&seg).unwrap().len() < good.len() as u64, "the torn tail is cut off");

    // A zeroed sector with a whole record after it is not a torn write.
    let mut holed = good.clone();
    holed[1024..1536].fill(0);
    fs::write(&seg, &holed).unwrap();
    assert!(matches!(reload(dir.path(), 1 << 20), Err(StoreError::Corrupt { .. })));
}

#[test]
fn empty_calls_and_empty_batches_write_nothing() {
    let dir = TempDir::new("empty");
    let mut s = open(dir.path(), 1 << 20).unwrap();
    let seg = dir.path().join(&names_with(dir.path(), ".wal")[0]);
    let len = fs::metadata(&seg).unwrap().len();
    persist(&mut s, vec![]).unwrap();
    persist(&mut s, vec![batch(1), batch(2)]).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), len);
    assert_eq!(load(&mut s).unwrap(), model([]));
}

#[test]
fn the_store_works_as_a_boxed_log_store_from_another_thread() {
    let dir = TempDir::new("dyn");
    let mut s: Box<dyn LogStore> = Box::new(open(dir.path(), 1 << 20).unwrap());
    let b = Persist { entries: entries(1, 2, 1, 5), hard_state: Some(hard_state(1, Some(1), 2)), ..batch(1) };
    let want = model([&b]);
    let got = std::thread::spawn(move || {
        futures::executor::block_on(async {
            s.persist(vec![b]).await.unwrap();
            s.load().await.unwrap()
        })
    })
    .join()
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.hard_state.commit, LogIndex(2));
}

#[test]
fn entries_read_back_across_segments_and_a_damaged_record_is_corruption() {
    let dir = TempDir::new("read-back");
    let mut s = open(dir.path(), 400).unwrap();
    let batches: Vec<Persist> =
        (0..10).map(|k| Persist { entries: entries(3 * k + 1, 3 * k + 3, 1, 40), ..batch(k + 1) }).collect();
    persist(&mut s, batches.clone()).unwrap();
    assert!(names_with(dir.path(), ".wal").len() >= 3, "the log spans segments");
    let read = |from, to, max_entries| LogRead {
        peer: NodeId(2),
        from: LogIndex(from),
        to: LogIndex(to),
        max_entries,
        max_bytes: usize::MAX,
    };
    let got = futures::executor::block_on(s.read_entries(read(2, 30, 100))).unwrap();
    assert_eq!(got, entries(2, 30, 1, 40), "every entry, from the middle of a record, over every segment");
    let got = futures::executor::block_on(s.read_entries(read(5, 30, 4))).unwrap();
    assert_eq!(got, entries(5, 8, 1, 40), "within the entry budget");
    assert!(futures::executor::block_on(s.read_entries(read(31, 40, 4))).unwrap().is_empty(), "past the log");
    // Damage a byte of entry 2's payload in the first segment.
    let first = dir.path().join(names_with(dir.path(), ".wal")[0].clone());
    let mut bytes = fs::read(&first).unwrap();
    let at = bytes.windows(40).position(|w| w == &data(2, 1, 40)[..]).expect("entry 2's payload is in segment 1");
    bytes[at] ^= 0x40;
    fs::write(&first, &bytes).unwrap();
    let err = futures::executor::block_on(s.read_entries(read(1, 3, 10))).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}
