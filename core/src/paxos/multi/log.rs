//! The acceptor's slots, kept in the shared storage format.
//!
//! Storage takes contiguous appends and suffix truncation only (see
//! [`Persist`]), while Paxos accepts slots in any order and may accept a
//! slot again in a higher ballot. Two rules map one onto the other:
//!
//! - **Holes are stored explicitly.** Accepting slot `i` past the end of
//!   the log first fills every slot in between with a *hole*: a no-op
//!   entry with term 0 — ballot zero, below every real ballot — meaning
//!   "nothing accepted here". A hole is never reported in a promise, never
//!   counts as accepted and is never chosen.
//! - **Overwrites rewrite the suffix.** Changing a slot that was already
//!   handed to storage (filling a hole, accepting in a higher ballot,
//!   learning the chosen value) truncates storage from that slot and
//!   appends the log again from there. Correct, but not optimal: a write
//!   costs the length of the suffix. In steady state slots arrive in order
//!   and every write is an append; reordering and leader changes rewrite
//!   short suffixes.
//!
//! A crash may lose any unreported write, but storage recovers a prefix of
//! the write sequence, so a rewritten suffix is either all there or not
//! at all, and what was reported durable is never lost.

use crate::id::{LogIndex, Term};
use crate::replica::{Entry, Persist, PersistId, Snapshot, held_range};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// A hole: nothing accepted at `index`.
pub(super) fn hole(index: LogIndex) -> Entry {
    Entry::noop(index, Term(0))
}

/// True for a hole.
pub(super) fn is_hole(e: &Entry) -> bool {
    e.term == Term(0)
}

#[derive(Debug)]
pub(super) struct PaxosLog {
    /// The latest snapshot; `entries` continue right after it.
    pub snapshot: Snapshot,
    /// One entry per slot, holes included.
    entries: VecDeque<Entry>,
    /// Every slot up to here holds its chosen value.
    pub commit: LogIndex,
    /// Highest index handed to the service (restores count).
    pub applied: LogIndex,
    /// Every slot up to here, as held now, is durable.
    pub persisted: LogIndex,
    /// First slot not yet handed out in a `Persist` (as held now).
    unstable_from: LogIndex,
    /// Truncation to hand out with the next `Persist`.
    truncate_from: Option<LogIndex>,
    /// The snapshot still has to be handed out.
    snapshot_unstable: bool,
    /// Batches handed out and not yet reported, with the last slot each
    /// leaves in storage.
    batches: VecDeque<(PersistId, LogIndex)>,
}

impl PaxosLog {
    /// A log recovered from storage: everything in it is durable, and the
    /// stored commit hint names chosen slots only.
    pub fn recovered(snapshot: Snapshot, entries: Vec<Entry>, commit: LogIndex) -> PaxosLog {
        let entries: VecDeque<Entry> = entries.into_iter().filter(|e| e.index > snapshot.meta.index).collect();
        let last = entries.back().map_or(snapshot.meta.index, |e| e.index);
        let snap_index = snapshot.meta.index;
        PaxosLog {
            snapshot,
            entries,
            commit: commit.min(last).max(snap_index),
            applied: snap_index,
            persisted: last,
            unstable_from: last.next(),
            truncate_from: None,
            snapshot_unstable: false,
            batches: VecDeque::new(),
        }
    }

    pub fn first_index(&self) -> LogIndex {
        self.snapshot.meta.index.next()
    }

    pub fn last_index(&self) -> LogIndex {
        self.entries.back().map_or(self.snapshot.meta.index, |e| e.index)
    }

    /// The accepted ballot (packed) at `index`, if held; 0 for a hole.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.meta.index {
            return Some(self.snapshot.meta.term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let first = self.first_index();
        if index < first {
            return None;
        }
        self.entries.get((index.0 - first.0) as usize)
    }

    /// Entries in `from..=to` that are held.
    pub fn range(&self, from: LogIndex, to: LogIndex) -> impl Iterator<Item = &Entry> {
        self.entries.range(held_range(self.first_index().0, self.entries.len(), from, to))
    }

    /// Stores `e` in its slot: past the end (holes fill the gap) or over
    /// what is there. Returns false if nothing changed. Slots covered by
    /// the snapshot are chosen and never change.
    pub fn set(&mut self, e: Entry) -> bool {
        let index = e.index;
        if index < self.first_index() {
            return false;
        }
        let last = self.last_index();
        if index > last {
            let mut i = last.next();
            while i < index {
                self.entries.push_back(hole(i));
                i = i.next();
            }
            self.entries.push_back(e);
            return true;
        }
        let k = (index.0 - self.first_index().0) as usize;
        if self.entries[k] == e {
            return false;
        }
        self.entries[k] = e;
        if index < self.unstable_from {
            // Already handed to storage: rewrite the suffix from here.
            self.unstable_from = index;
            self.truncate_from = Some(self.truncate_from.map_or(index, |t| t.min(index)));
            let last_kept = index.prev();
            self.persisted = self.persisted.min(last_kept);
            for (_, last) in &mut self.batches {
                *last = (*last).min(last_kept);
            }
        }
        true
    }

    /// Installs a snapshot of chosen slots. Slots above it stay: each slot
    /// of Paxos is its own instance, so what was accepted there still holds.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.compact(snapshot);
        self.commit = self.commit.max(index);
        self.applied = self.applied.max(index);
    }

    /// Takes a snapshot at `index` and drops the slots it covers.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        let drop = (index.0 + 1).saturating_sub(self.first_index().0) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = snapshot;
        self.snapshot_unstable = true;
        if self.unstable_from <= index {
            self.unstable_from = index.next();
        }
    }

    /// True if there are writes not yet handed out.
    pub fn has_unstable(&self) -> bool {
        self.snapshot_unstable || self.truncate_from.is_some() || self.unstable_from <= self.last_index()
    }

    /// Moves unstable writes into `p`, recording the batch as `id`.
    pub fn take_unstable(&mut self, id: PersistId, p: &mut Persist) {
        if self.snapshot_unstable {
            p.snapshot = Some(self.snapshot.clone());
            self.snapshot_unstable = false;
        }
        p.truncate_from = self.truncate_from.take();
        let last = self.last_index();
        p.entries.extend(self.range(self.unstable_from, last).cloned());
        self.unstable_from = last.next();
        self.batches.push_back((id, last));
    }

    /// Storage reports every batch up to `id` durable.
    pub fn persisted_up_to(&mut self, id: PersistId) {
        while let Some(&(bid, last)) = self.batches.front() {
            if bid > id {
                break;
            }
            self.batches.pop_front();
            // Capped by later rewrites, which are durable only once their
            // own batch is reported.
            self.persisted = last.min(self.last_index());
        }
    }

    /// Hands out chosen, durable entries not yet applied.
    pub fn take_committed(&mut self, out: &mut Vec<Entry>) {
        let to = self.commit.min(self.persisted);
        if to > self.applied {
            out.extend(self.range(self.applied.next(), to).cloned());
            self.applied = to;
        }
    }

    pub fn has_committed(&self) -> bool {
        self.commit.min(self.persisted) > self.applied
    }
}

impl crate::replica::durability::Unstable for PaxosLog {
    fn has_unstable(&self) -> bool {
        PaxosLog::has_unstable(self)
    }

    fn take_unstable(&mut self, id: PersistId, p: &mut Persist) {
        PaxosLog::take_unstable(self, id, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::SnapshotMeta;
    use alloc::vec;
    use bytes::Bytes;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::from(alloc::format!("{i}@{t}")))
    }

    fn flush(log: &mut PaxosLog, id: u64) -> Persist {
        let mut p = Persist { id: PersistId(id), ..Persist::default() };
        log.take_unstable(PersistId(id), &mut p);
        p
    }

    fn slots(p: &Persist) -> Vec<(u64, u64)> {
        p.entries.iter().map(|e| (e.index.0, e.term.0)).collect()
    }

    #[test]
    fn a_slot_past_the_end_stores_holes_before_it() {
        let mut log = PaxosLog::recovered(Snapshot::default(), Vec::new(), LogIndex(0));
        assert!(log.set(e(3, 5)));
        let p = flush(&mut log, 1);
        assert_eq!(slots(&p), vec![(1, 0), (2, 0), (3, 5)]);
        assert!(is_hole(log.entry(LogIndex(1)).unwrap()));
        assert_eq!(p.truncate_from, None, "pure appends");
    }

    #[test]
    fn filling_a_stored_hole_rewrites_the_suffix() {
        let mut log = PaxosLog::recovered(Snapshot::default(), Vec::new(), LogIndex(0));
        log.set(e(1, 5));
        log.set(e(4, 5));
        let _ = flush(&mut log, 1);
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(4));
        assert!(log.set(e(2, 5)));
        assert!(!log.set(e(2, 5)), "the same value again changes nothing");
        assert_eq!(log.persisted, LogIndex(1), "slots from 2 on are no longer known durable");
        let p = flush(&mut log, 2);
        assert_eq!(p.truncate_from, Some(LogIndex(2)));
        assert_eq!(slots(&p), vec![(2, 5), (3, 0), (4, 5)]);
        log.persisted_up_to(PersistId(2));
        assert_eq!(log.persisted, LogIndex(4));
    }

    #[test]
    fn a_rewrite_caps_an_unreported_batch() {
        let mut log = PaxosLog::recovered(Snapshot::default(), Vec::new(), LogIndex(0));
        for i in 1..=5 {
            log.set(e(i, 5));
        }
        let _ = flush(&mut log, 1);
        log.set(e(3, 9));
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(2), "slot 3 changed after batch 1 was written");
        let p = flush(&mut log, 2);
        assert_eq!((p.truncate_from, slots(&p)), (Some(LogIndex(3)), vec![(3, 9), (4, 5), (5, 5)]));
    }

    #[test]
    fn one_report_covers_every_earlier_batch() {
        let mut log = PaxosLog::recovered(Snapshot::default(), Vec::new(), LogIndex(0));
        log.set(e(1, 5));
        let _ = flush(&mut log, 1);
        log.set(e(2, 5));
        let _ = flush(&mut log, 2);
        log.set(e(3, 5));
        let _ = flush(&mut log, 3);
        log.persisted_up_to(PersistId(2));
        assert_eq!(log.persisted, LogIndex(2));
        log.persisted_up_to(PersistId(3));
        assert_eq!(log.persisted, LogIndex(3));
    }

    #[test]
    fn recovery_drops_what_the_snapshot_covers() {
        let snap = Snapshot {
            meta: SnapshotMeta { index: LogIndex(2), term: Term(5), ..Default::default() },
            data: Bytes::new(),
        };
        let log = PaxosLog::recovered(snap, vec![e(2, 5), e(3, 5), e(4, 5)], LogIndex(9));
        assert_eq!(log.entry(LogIndex(3)).map(|x| x.index), Some(LogIndex(3)));
        assert_eq!((log.first_index(), log.last_index(), log.commit), (LogIndex(3), LogIndex(4), LogIndex(4)));
        assert_eq!(log.applied, LogIndex(2));
    }

    #[test]
    fn an_overwrite_not_yet_handed_out_needs_no_truncation() {
        let mut log = PaxosLog::recovered(Snapshot::default(), vec![e(1, 5)], LogIndex(0));
        log.set(e(2, 5));
        log.set(e(2, 7));
        let p = flush(&mut log, 1);
        assert_eq!((p.truncate_from, slots(&p)), (None, vec![(2, 7)]));
    }

    #[test]
    fn a_snapshot_keeps_the_slots_above_it() {
        let mut log = PaxosLog::recovered(Snapshot::default(), vec![e(1, 5), e(2, 5), e(3, 5)], LogIndex(1));
        let snap = Snapshot {
            meta: SnapshotMeta { index: LogIndex(2), term: Term(5), ..Default::default() },
            data: Bytes::new(),
        };
        log.install_snapshot(snap.clone());
        assert_eq!((log.first_index(), log.last_index()), (LogIndex(3), LogIndex(3)));
        assert_eq!((log.commit, log.applied), (LogIndex(2), LogIndex(2)));
        assert_eq!(log.term(LogIndex(2)), Some(Term(5)));
        assert!(!log.set(e(2, 9)), "slots under the snapshot are chosen");
        let mut far = PaxosLog::recovered(Snapshot::default(), vec![e(1, 5)], LogIndex(0));
        let snap = Snapshot { meta: SnapshotMeta { index: LogIndex(10), ..snap.meta }, data: Bytes::new() };
        far.install_snapshot(snap);
        assert_eq!((far.first_index(), far.last_index()), (LogIndex(11), LogIndex(10)));
        let p = flush(&mut far, 1);
        assert!(p.snapshot.is_some() && p.entries.is_empty());
        far.set(e(11, 5));
        assert_eq!(slots(&flush(&mut far, 2)), vec![(11, 5)], "appends continue the snapshot");
    }

    #[test]
    fn committed_entries_wait_for_durability() {
        let mut log = PaxosLog::recovered(Snapshot::default(), Vec::new(), LogIndex(0));
        log.set(e(1, 5));
        log.set(e(2, 5));
        log.commit = LogIndex(2);
        let mut out = Vec::new();
        log.take_committed(&mut out);
        assert!(out.is_empty());
        let _ = flush(&mut log, 1);
        log.persisted_up_to(PersistId(1));
        assert!(log.has_committed());
        log.take_committed(&mut out);
        assert_eq!(out.len(), 2);
        assert!(!log.has_committed());
    }

    #[test]
    fn ranges_clip_to_what_is_held() {
        let log = PaxosLog::recovered(Snapshot::default(), vec![e(1, 5), e(2, 5)], LogIndex(0));
        assert_eq!(log.range(LogIndex(0), LogIndex(9)).count(), 2);
        assert_eq!(log.range(LogIndex(2), LogIndex(2)).count(), 1);
        assert_eq!(log.range(LogIndex(3), LogIndex(9)).count(), 0);
        assert_eq!(log.range(LogIndex(2), LogIndex(1)).count(), 0);
        assert_eq!(log.range(LogIndex(0), LogIndex(0)).count(), 0);
    }
}
