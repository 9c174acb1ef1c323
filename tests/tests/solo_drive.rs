//! Drives the single-node log through the replica interface exactly as a
//! node driver would, including a crash that loses unsynced writes.

use bytes::Bytes;
use synod_core::id::{LogIndex, NodeId};
use synod_core::replica::{Entry, Output, Persist, ReadId, Recovered, Replica};
use synod_core::solo::Solo;
use synod_core::time::Instant;

#[derive(Default)]
struct Disk {
    durable: Recovered,
    unsynced: Vec<Persist>,
}

impl Disk {
    fn write(&mut self, p: Persist) {
        self.unsynced.push(p);
    }

    fn sync(&mut self) -> Option<synod_core::replica::PersistId> {
        let mut last = None;
        for p in self.unsynced.drain(..) {
            if let Some(t) = p.truncate_from {
                self.durable.entries.retain(|e| e.index < t);
            }
            if let Some(s) = &p.snapshot {
                self.durable.entries.retain(|e| e.index > s.meta.index);
                self.durable.snapshot = Some(s.clone());
            }
            self.durable.entries.extend(p.entries.iter().cloned());
            if let Some(hs) = p.hard_state {
                self.durable.hard_state = hs;
            }
            last = Some(p.id);
        }
        last
    }
}

/// One pass of the drive loop; returns the entries applied.
fn drive(r: &mut Solo, disk: &mut Disk, sync: bool, applied: &mut Vec<Entry>, reads: &mut Vec<(ReadId, LogIndex)>) {
    let mut out = Output::default();
    loop {
        r.poll_output(&mut out);
        if out.is_empty() {
            return;
        }
        if let Some(p) = out.persist.take() {
            disk.write(p);
            if sync && let Some(id) = disk.sync() {
                r.handle_persisted(Instant::ZERO, id);
            }
        }
        if out.restore.take().is_some() {
            applied.clear();
        }
        applied.append(&mut out.committed);
        for read in out.reads.drain(..) {
            reads.push((read.id, read.result.expect("a lone node always confirms reads")));
        }
        out.clear();
    }
}

#[test]
fn solo_commits_exactly_what_it_persisted_and_survives_a_crash() {
    let now = Instant::ZERO;
    let mut disk = Disk::default();
    let mut r = Solo::new(NodeId(1), Recovered::default()).unwrap();
    let mut applied = Vec::new();
    let mut reads = Vec::new();
    let a = r.propose(now, Bytes::from_static(b"a")).unwrap();
    let b = r.propose(now, Bytes::from_static(b"b")).unwrap();
    drive(&mut r, &mut disk, false, &mut applied, &mut reads);
    assert!(applied.is_empty(), "nothing commits before it is durable");
    let id = disk.sync().unwrap();
    r.handle_persisted(now, id);
    r.read(now, ReadId(1)).unwrap();
    drive(&mut r, &mut disk, true, &mut applied, &mut reads);
    assert_eq!(applied.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(), [(a.index, a.term), (b.index, b.term)]);
    assert_eq!(reads, [(ReadId(1), b.index)], "a read sees every acknowledged write");

    // An unsynced proposal is lost in a crash; the synced ones are not.
    let lost = r.propose(now, Bytes::from_static(b"lost")).unwrap();
    drive(&mut r, &mut disk, false, &mut applied, &mut reads);
    let mut r = Solo::new(NodeId(1), disk.durable.clone()).unwrap();
    let mut replayed = Vec::new();
    drive(&mut r, &mut Disk::default(), true, &mut replayed, &mut reads);
    assert_eq!(replayed.iter().map(|e| e.data.clone()).collect::<Vec<_>>(), [&b"a"[..], &b"b"[..]]);
    let again = r.propose(now, Bytes::from_static(b"c")).unwrap();
    assert_eq!(again.index, lost.index, "the lost slot is reused ...");
    assert!(again.term > lost.term, "... under a new term, so the lost proposal can tell it failed");
}

#[test]
fn solo_restores_from_a_snapshot_then_replays_the_tail() {
    let now = Instant::ZERO;
    let mut disk = Disk::default();
    let mut r = Solo::new(NodeId(1), Recovered::default()).unwrap();
    let (mut applied, mut reads) = (Vec::new(), Vec::new());
    for i in 0..5u8 {
        r.propose(now, Bytes::from(vec![i])).unwrap();
    }
    drive(&mut r, &mut disk, true, &mut applied, &mut reads);
    r.compact(now, LogIndex(3), Bytes::from_static(b"state@3")).unwrap();
    assert!(r.compact(now, LogIndex(3), Bytes::new()).is_err());
    assert!(r.compact(now, LogIndex(9), Bytes::new()).is_err());
    drive(&mut r, &mut disk, true, &mut applied, &mut reads);
    assert_eq!(disk.durable.snapshot.as_ref().map(|s| s.meta.index), Some(LogIndex(3)));
    let mut r = Solo::new(NodeId(1), disk.durable.clone()).unwrap();
    let mut out = Output::default();
    r.poll_output(&mut out);
    assert_eq!(out.restore.map(|s| s.data), Some(Bytes::from_static(b"state@3")));
    assert_eq!(out.committed.iter().map(|e| e.index.0).collect::<Vec<_>>(), [4, 5]);
}
