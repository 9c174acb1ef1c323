//! Issue 21: a node that lost its log must not start, or it forgets its
//! term, its vote and the entries it acknowledged, and two such nodes can
//! break the overlap of quorums. The identity file is written only once
//! the log's first record is durable, so an identity without a log means
//! the log was lost; a first open that crashed before writing the identity
//! left a log holding nothing, which the next open adopts.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use synod_core::replica::{Persist, Recovered};
use synod_net::store::StoreError;
use synod_storage::Storage;

const SEGMENT: &str = "00000000000000000001.wal";

/// A node that voted for node 3 in term 2 and stored six entries, in three
/// batches (so that small segments roll).
fn voted(dir: &Path, segment_bytes: u64) -> Vec<Persist> {
    let mut batches: Vec<Persist> =
        (1..=3).map(|i| Persist { entries: entries(2 * i - 1, 2 * i, 2, 40), ..batch(i) }).collect();
    batches[2].hard_state = Some(hard_state(2, Some(3), 4));
    let mut s = open(dir, segment_bytes).unwrap();
    for b in &batches {
        persist(&mut s, vec![b.clone()]).unwrap();
    }
    batches
}

fn assert_log_lost(dir: &Path, segment_files: usize) {
    match reload(dir, 1 << 20) {
        Err(e @ StoreError::LogLost { .. }) => {
            let StoreError::LogLost { node, segments, .. } = &e else { unreachable!() };
            assert_eq!((*node, *segments), (1, segment_files));
            let msg = e.to_string();
            assert!(msg.contains("write-ahead log is gone"), "{msg}");
            assert!(
                msg.contains(
                    "remove node 1 from the cluster and add a new node with a new id and an empty data directory"
                ),
                "{msg}"
            );
        }
        other => panic!("a directory without its log opened: {other:?}"),
    }
}

/// The bytes of segment 1 as the first open leaves it: its checkpoint.
fn first_checkpoint() -> Vec<u8> {
    let dir = TempDir::in_memory("checkpoint");
    drop(open(dir.path(), 1 << 20).unwrap());
    files(dir.path()).remove(SEGMENT).unwrap()
}

#[test]
fn a_node_whose_segments_were_deleted_is_refused_and_told_how_to_be_replaced() {
    let dir = TempDir::new("segments-deleted");
    voted(dir.path(), 200);
    let segments = names_with(dir.path(), ".wal");
    assert!(segments.len() >= 2, "{segments:?}");
    for s in &segments {
        fs::remove_file(dir.path().join(s)).unwrap();
    }
    assert_log_lost(dir.path(), 0);
    // Refusing changed nothing: the identity stays, and so does the refusal.
    assert!(dir.path().join("IDENTITY").exists());
    assert!(names_with(dir.path(), ".wal").is_empty());
    assert_log_lost(dir.path(), 0);
}

#[test]
fn a_node_whose_segment_lost_the_hard_state_in_it_is_refused() {
    // The term and vote live in the log's records: each segment opens with
    // a checkpoint of them. A segment file that survived with its contents
    // lost (cut anywhere inside its first record) holds no hard state.
    let dir = TempDir::in_memory("hard-state-lost");
    voted(dir.path(), 1 << 20);
    let seg = dir.path().join(SEGMENT);
    let whole = fs::read(&seg).unwrap();
    for len in 0..first_checkpoint().len() {
        fs::write(&seg, &whole[..len]).unwrap();
        assert_log_lost(dir.path(), 1);
        assert_eq!(fs::read(&seg).unwrap().len(), len, "refusing cut nothing");
    }
}

#[test]
fn a_node_whose_segments_all_lost_their_contents_is_refused() {
    let dir = TempDir::new("all-emptied");
    voted(dir.path(), 200);
    for s in names_with(dir.path(), ".wal") {
        fs::write(dir.path().join(s), b"").unwrap();
    }
    assert!(reload(dir.path(), 200).is_err(), "a log of empty segments opened");
}

#[test]
fn a_new_directory_is_created_and_claimed_on_first_open() {
    let base = TempDir::new("fresh");
    let dir = base.path().join("data");
    let mut s = Storage::open(&dir, config(1 << 20)).unwrap();
    assert_eq!(load(&mut s).unwrap(), Recovered::default());
    assert!(s.repairs().is_empty());
    assert!(dir.join("IDENTITY").exists());
    assert_eq!(names_with(&dir, ".wal"), [SEGMENT]);
    let b = Persist { entries: entries(1, 2, 1, 5), hard_state: Some(hard_state(1, Some(1), 0)), ..batch(1) };
    persist(&mut s, vec![b.clone()]).unwrap();
    drop(s);
    assert_eq!(reload(&dir, 1 << 20).unwrap(), model([&b]));
}

#[test]
fn a_first_open_that_crashed_before_claiming_the_directory_opens() {
    // What the first open has on disk at each step before it returns: the
    // segment created, its checkpoint written part-way and whole, the
    // identity half-written to its temporary file.
    let checkpoint = first_checkpoint();
    let identity = {
        let dir = TempDir::in_memory("identity");
        drop(open(dir.path(), 1 << 20).unwrap());
        fs::read(dir.path().join("IDENTITY")).unwrap()
    };
    let mut crashes: Vec<Vec<(&str, &[u8])>> = vec![vec![]];
    for len in 0..=checkpoint.len() {
        crashes.push(vec![(SEGMENT, &checkpoint[..len])]);
    }
    crashes.push(vec![(SEGMENT, &checkpoint), ("IDENTITY.tmp", &identity[..identity.len() / 2])]);
    let dir = TempDir::in_memory("first-open-crash");
    for (k, crash) in crashes.iter().enumerate() {
        restore(dir.path(), &crash.iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect::<BTreeMap<_, _>>());
        let mut s = open(dir.path(), 1 << 20).unwrap_or_else(|e| panic!("crash {k}: {e}"));
        assert_eq!(load(&mut s).unwrap(), Recovered::default(), "crash {k}");
        let b = Persist { entries: entries(1, 1, 1, 5), hard_state: Some(hard_state(1, Some(1), 0)), ..batch(1) };
        persist(&mut s, vec![b.clone()]).unwrap();
        drop(s);
        assert_eq!(fs::read(dir.path().join("IDENTITY")).unwrap(), identity, "crash {k}: claimed");
        assert_eq!(reload(dir.path(), 1 << 20).unwrap(), model([&b]), "crash {k}");
    }
}

#[test]
fn the_identity_file_is_still_format_1() {
    // Directories written before issue 21 must open: the layout is the
    // documented one, byte for byte.
    let mut want = b"SYNODID\0".to_vec();
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(&1u64.to_le_bytes());
    want.extend_from_slice(&12u32.to_le_bytes());
    want.extend_from_slice(b"test-cluster");
    let crc = crc32c::crc32c(&want);
    want.extend_from_slice(&crc.to_le_bytes());
    let dir = TempDir::in_memory("format-1");
    let b = voted(dir.path(), 1 << 20);
    assert_eq!(fs::read(dir.path().join("IDENTITY")).unwrap(), want);
    fs::write(dir.path().join("IDENTITY"), &want).unwrap();
    assert_eq!(reload(dir.path(), 1 << 20).unwrap(), model(&b));
}
