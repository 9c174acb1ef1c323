//! Exhaustive damage tests on small logs: the log cut at every byte offset
//! recovers exactly the batches whose records lie before the cut; every
//! single flipped byte is reported as corruption naming its file, except in
//! the last record, where recovering the batches before it is also allowed.
//! Never a wrong record.

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_core::id::{LogIndex, Term};
use synod_core::replica::{Entry, Persist};
use synod_net::store::StoreError;

/// A log written one batch per `persist`, and every file it ever held.
struct History {
    batches: Vec<Persist>,
    /// Per batch: the segment its record went to, and where the record ends.
    ends: Vec<(String, usize)>,
    /// Every file the directory held at some point, in its last version
    /// (segments only grow, snapshot files never change), including
    /// segments and snapshots the store has since deleted.
    universe: BTreeMap<String, Vec<u8>>,
    segment_bytes: u64,
}

impl History {
    fn write(batches: Vec<Persist>, segment_bytes: u64) -> History {
        let dir = TempDir::in_memory("history");
        let mut s = open(dir.path(), segment_bytes).unwrap();
        let mut universe = files(dir.path());
        let mut ends = Vec::new();
        for b in &batches {
            persist(&mut s, vec![b.clone()]).unwrap();
            let now = files(dir.path());
            let last = now.keys().filter(|n| n.ends_with(".wal")).max().unwrap().clone();
            ends.push((last.clone(), now[&last].len()));
            universe.extend(now);
        }
        assert_eq!(load(&mut s).unwrap(), model(&batches), "the history itself reads back");
        History { batches, ends, universe, segment_bytes }
    }

    fn segments(&self) -> Vec<String> {
        self.universe.keys().filter(|n| n.ends_with(".wal")).cloned().collect()
    }

    /// The universe with segment `seg` cut to `len` bytes and later ones gone.
    fn cut(&self, seg: &str, len: usize) -> BTreeMap<String, Vec<u8>> {
        let mut files: BTreeMap<String, Vec<u8>> =
            self.universe.iter().filter(|(n, _)| !n.ends_with(".wal") || n.as_str() < seg).map(clone).collect();
        files.insert(seg.to_owned(), self.universe[seg][..len].to_vec());
        files
    }

    /// The state after the batches whose records end at or before `len` in
    /// `seg`.
    fn durable_before(&self, seg: &str, len: usize) -> synod_core::replica::Recovered {
        let durable =
            self.batches.iter().zip(&self.ends).filter(|(_, (s, end))| s.as_str() < seg || (s == seg && *end <= len));
        model(durable.map(|(b, _)| b))
    }
}

fn clone((n, b): (&String, &Vec<u8>)) -> (String, Vec<u8>) {
    (n.clone(), b.clone())
}

/// Bytes of a record's header.
const HEADER: usize = 12;

/// Where the last record of a segment starts, walking the length fields.
fn last_record_start(seg: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let len = u32::from_le_bytes(seg[at..at + 4].try_into().unwrap()) as usize;
        if at + 12 + len >= seg.len() {
            return at;
        }
        at += 12 + len;
    }
}

fn next_index(r: &synod_core::replica::Recovered) -> u64 {
    r.entries.last().map(|e| e.index.0).or(r.snapshot.as_ref().map(|s| s.meta.index.0)).unwrap_or(0) + 1
}

/// Cuts the log at every byte of every segment and checks what reopening
/// recovers. With `append`, also writes a batch after recovery and checks
/// it lands after the recovered prefix, not after the cut-off garbage.
fn every_cut(h: &History, append: bool) -> usize {
    let dir = TempDir::in_memory("cut");
    let mut cases = 0;
    let first = h.segments()[0].clone();
    let first_checkpoint = HEADER + u32::from_le_bytes(h.universe[&first][..4].try_into().unwrap()) as usize;
    for seg in h.segments() {
        for len in 0..=h.universe[&seg].len() {
            restore(dir.path(), &h.cut(&seg, len));
            if seg == first && len < first_checkpoint {
                // Not a crash (the identity is written after this record is
                // durable): the log lost its hard state, and is refused.
                let got = reload(dir.path(), h.segment_bytes);
                assert!(matches!(got, Err(StoreError::LogLost { .. })), "cut {seg}@{len}: {got:?}");
                cases += 1;
                continue;
            }
            let mut want = h.durable_before(&seg, len);
            let got = reload(dir.path(), h.segment_bytes).unwrap_or_else(|e| panic!("cut {seg}@{len}: {e}"));
            assert_eq!(got, want, "cut {seg}@{len}");
            let snaps = names_with(dir.path(), ".snap");
            assert_eq!(snaps.len(), usize::from(want.snapshot.is_some()), "cut {seg}@{len}: orphans left: {snaps:?}");
            if append {
                let i = next_index(&want);
                let extra = Persist { entries: entries(i, i + 1, 9, 5), ..batch(100) };
                let mut s = open(dir.path(), h.segment_bytes).unwrap();
                persist(&mut s, vec![extra.clone()]).unwrap();
                drop(s);
                synod_net::store::apply_batch(&mut want, &extra);
                assert_eq!(reload(dir.path(), h.segment_bytes).unwrap(), want, "append after cut {seg}@{len}");
            }
            cases += 1;
        }
    }
    cases
}

/// Flips every byte of every segment and checks the damage is reported,
/// or, in the last record only, cut off as a torn write.
fn every_flip(h: &History) -> usize {
    let dir = TempDir::in_memory("flip");
    let segs = h.segments();
    let last = segs.last().unwrap().clone();
    let tail_start = last_record_start(&h.universe[&last]);
    let all_but_last = model(&h.batches[..h.batches.len() - 1]);
    let mut cases = 0;
    for seg in &segs {
        for at in 0..h.universe[seg].len() {
            let mut files = h.universe.clone();
            files.get_mut(seg).unwrap()[at] ^= 0xff;
            restore(dir.path(), &files);
            let in_tail = *seg == last && at >= tail_start;
            match reload(dir.path(), h.segment_bytes) {
                Err(StoreError::Corrupt { file, offset, .. }) => {
                    assert!(file.ends_with(seg), "flip {seg}@{at}: blamed {}", file.display());
                    assert!(offset as usize <= at, "flip {seg}@{at}: blamed offset {offset}");
                }
                Ok(got) if in_tail => assert_eq!(got, all_but_last, "flip {seg}@{at} in the last record"),
                Ok(_) => panic!("flip {seg}@{at} went unnoticed"),
                Err(e) => panic!("flip {seg}@{at}: unexpected error {e}"),
            }
            cases += 1;
        }
    }
    cases
}

/// A small log that uses every part of a batch: entries, hard state,
/// truncation, snapshots (alone and with entries), empty payloads, noops.
fn small_log() -> Vec<Persist> {
    vec![
        Persist { entries: entries(1, 3, 1, 10), hard_state: Some(hard_state(1, Some(1), 0)), ..batch(1) },
        Persist { hard_state: Some(hard_state(2, Some(2), 2)), ..batch(2) },
        Persist { truncate_from: Some(LogIndex(3)), entries: entries(3, 4, 2, 7), ..batch(3) },
        Persist { snapshot: Some(snapshot(2, 1, 40)), ..batch(4) },
        Persist { entries: entries(5, 6, 2, 3), hard_state: Some(hard_state(2, Some(2), 5)), ..batch(5) },
        Persist { snapshot: Some(snapshot(5, 2, 30)), entries: entries(6, 7, 2, 4), ..batch(6) },
        Persist {
            truncate_from: Some(LogIndex(7)),
            entries: vec![entry(7, 3, 0), Entry::noop(LogIndex(8), Term(3))],
            ..batch(7)
        },
    ]
}

/// A log over many small segments, with snapshots that let the store
/// delete old segments as it goes.
fn segmented_log() -> Vec<Persist> {
    let mut v = Vec::new();
    for i in 1..=16u64 {
        let mut b = Persist { entries: entries(2 * i - 1, 2 * i, 1, 12), ..batch(i) };
        if i % 4 == 0 {
            b.snapshot = Some(snapshot(2 * i - 3, 1, 8));
            b.hard_state = Some(hard_state(1, Some(1), 2 * i - 3));
        }
        if i == 10 {
            b.truncate_from = Some(LogIndex(2 * i - 2));
            b.entries.insert(0, entry(2 * i - 2, 1, 3));
        }
        v.push(b);
    }
    v
}

#[test]
fn cutting_a_small_log_at_every_byte_recovers_exactly_the_records_before_the_cut() {
    let h = History::write(small_log(), 1 << 20);
    assert_eq!(h.segments().len(), 1);
    let cases = every_cut(&h, true);
    assert!(cases > 500, "{cases} cuts");
}

#[test]
fn flipping_any_byte_of_a_small_log_is_caught_or_cuts_only_the_last_record() {
    let h = History::write(small_log(), 1 << 20);
    let cases = every_flip(&h);
    assert!(cases > 500, "{cases} flips");
}

#[test]
fn cutting_a_segmented_log_at_every_byte_recovers_exactly_the_records_before_the_cut() {
    let h = History::write(segmented_log(), 200);
    assert!(h.segments().len() >= 6, "{} segments", h.segments().len());
    let cases = every_cut(&h, true);
    assert!(cases > 1500, "{cases} cuts");
}

#[test]
fn flipping_any_byte_of_a_segmented_log_is_caught_or_cuts_only_the_last_record() {
    let h = History::write(segmented_log(), 200);
    let cases = every_flip(&h);
    assert!(cases > 1500, "{cases} flips");
}

#[test]
fn the_segmented_history_really_deleted_segments_and_snapshots() {
    // Guards the tests above: they must cover segment deletion, not a log
    // that never lost a file.
    let dir = TempDir::in_memory("gc");
    let mut s = open(dir.path(), 200).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for b in segmented_log() {
        persist(&mut s, vec![b]).unwrap();
        seen.extend(files(dir.path()).into_keys());
    }
    let now = names_with(dir.path(), ".wal");
    let ever = seen.iter().filter(|n| n.ends_with(".wal")).count();
    assert!(now.len() < ever / 2, "{} of {ever} segments left", now.len());
    assert_eq!(names_with(dir.path(), ".snap").len(), 1);
    assert!(seen.iter().filter(|n| n.ends_with(".snap")).count() >= 4);
}

#[test]
fn flipping_any_byte_of_the_current_snapshot_is_caught() {
    let h = History::write(small_log(), 1 << 20);
    let dir = TempDir::in_memory("snapflip");
    let current = model(&h.batches).snapshot.unwrap();
    restore(dir.path(), &h.universe);
    let name = {
        let _ = reload(dir.path(), h.segment_bytes).unwrap(); // removes the older snapshot file
        names_with(dir.path(), ".snap").pop().unwrap()
    };
    assert_eq!(reload(dir.path(), h.segment_bytes).unwrap().snapshot, Some(current));
    let good = files(dir.path());
    for at in 0..good[&name].len() {
        let mut bad = good.clone();
        bad.get_mut(&name).unwrap()[at] ^= 0x01;
        restore(dir.path(), &bad);
        match reload(dir.path(), h.segment_bytes) {
            Err(StoreError::Corrupt { file, .. }) => assert!(file.ends_with(&name), "byte {at}"),
            other => panic!("byte {at}: {other:?}"),
        }
    }
}
