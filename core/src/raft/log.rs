//! The in-memory log: a snapshot, the entries after it, and what of them is
//! committed, handed out to apply, and known durable.

use crate::id::{LogIndex, Term};
use crate::replica::{Entry, Persist, PersistId, Snapshot, held_range};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

#[derive(Debug)]
pub(super) struct RaftLog {
    /// The latest snapshot; `entries` continue right after it.
    pub snapshot: Snapshot,
    entries: VecDeque<Entry>,
    /// Highest index known committed (Raft §5.3).
    pub commit: LogIndex,
    /// Highest index handed to the service (restores count).
    pub applied: LogIndex,
    /// Highest index whose entry, as held now, is durable here.
    pub persisted: LogIndex,
    /// First index not yet handed out in a `Persist`.
    unstable_from: LogIndex,
    /// Pending truncation to hand out with the next `Persist`.
    truncate_from: Option<LogIndex>,
    /// The snapshot still has to be handed out.
    snapshot_unstable: bool,
    /// Batches handed out and not yet reported, with the last index each
    /// leaves in storage.
    batches: VecDeque<(PersistId, LogIndex)>,
}

impl RaftLog {
    /// A log recovered from storage: everything in it is durable.
    pub fn recovered(snapshot: Snapshot, entries: Vec<Entry>, commit: LogIndex) -> RaftLog {
        let entries: VecDeque<Entry> = entries.into_iter().filter(|e| e.index > snapshot.meta.index).collect();
        let last = entries.back().map_or(snapshot.meta.index, |e| e.index);
        let snap_index = snapshot.meta.index;
        RaftLog {
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

    pub fn last_term(&self) -> Term {
        self.entries.back().map_or(self.snapshot.meta.term, |e| e.term)
    }

    /// The term at `index`, if known (the snapshot's last index included).
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

    /// Entries in `from..=to`, all present.
    pub fn range(&self, from: LogIndex, to: LogIndex) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.range(held_range(self.first_index().0, self.entries.len(), from, to))
    }

    /// Raft §5.4.1: a candidate's log is at least as up-to-date as ours if
    /// its last term is higher, or equal with an index at least ours.
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Fast back-off (thesis §5.3): the last index at or below `index`
    /// whose term is at most `term`, with that term. Stops at the snapshot.
    pub fn conflict_hint(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Some(t) if t <= term => return (i, t),
                Some(_) if i > self.snapshot.meta.index => i = i.prev(),
                _ => return (self.snapshot.meta.index, self.snapshot.meta.term),
            }
        }
    }

    /// Appends one entry at `last_index + 1`.
    pub fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index().next());
        self.entries.push_back(entry);
    }

    /// Drops entries from `index` on; storage will be told to as well.
    pub fn truncate_from(&mut self, index: LogIndex) {
        let keep = index.0.saturating_sub(self.first_index().0) as usize;
        if keep >= self.entries.len() {
            return;
        }
        self.entries.truncate(keep);
        let last_kept = index.prev();
        self.persisted = self.persisted.min(last_kept);
        for (_, last) in &mut self.batches {
            *last = (*last).min(last_kept);
        }
        if self.unstable_from > index {
            self.unstable_from = index;
        }
        // Storage may hold entries from `index` on even if we never handed
        // them out in this life (they were recovered); always truncate.
        self.truncate_from = Some(self.truncate_from.map_or(index, |t| t.min(index)));
    }

    /// Clones up to `max_entries` entries from `from`, stopping before the
    /// byte budget is exceeded (but always taking at least one).
    pub fn slice(&self, from: LogIndex, max_bytes: usize, max_entries: usize, out: &mut Vec<Entry>) {
        let entries = self.range(from, self.last_index()).take(max_entries);
        // One allocation per message, not a dozen regrowths of a large one.
        out.reserve(entries.len());
        let mut bytes = 0;
        for e in entries {
            bytes += e.size();
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(e.clone());
        }
    }

    /// Replaces the log with `snapshot` (Raft §7): keeps the entries after
    /// it only if the log already agrees at its index.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        let keep_suffix = self.term(index) == Some(snapshot.meta.term);
        if keep_suffix {
            let drop = (index.0 + 1).saturating_sub(self.first_index().0) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.truncate_from(self.first_index());
            self.entries.clear();
            self.persisted = self.persisted.min(index);
            self.truncate_from = Some(index.next());
            for (_, last) in &mut self.batches {
                *last = (*last).min(index);
            }
        }
        self.snapshot = snapshot;
        self.snapshot_unstable = true;
        self.commit = self.commit.max(index);
        self.applied = self.applied.max(index);
        if self.unstable_from <= index {
            self.unstable_from = index.next();
        }
    }

    /// Takes a snapshot at `index` (already applied) and drops the entries
    /// it covers.
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
            // The batch's entries are durable only up to what still stands
            // in the log (later truncations cap `last`).
            self.persisted = last.min(self.last_index());
        }
    }

    /// Hands out committed, durable entries not yet applied.
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

impl crate::replica::durability::Unstable for RaftLog {
    fn has_unstable(&self) -> bool {
        RaftLog::has_unstable(self)
    }

    fn take_unstable(&mut self, id: PersistId, p: &mut Persist) {
        RaftLog::take_unstable(self, id, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::SnapshotMeta;
    use bytes::Bytes;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::new())
    }

    fn log_with(terms: &[u64]) -> RaftLog {
        let entries = terms.iter().enumerate().map(|(i, t)| e(i as u64 + 1, *t)).collect();
        RaftLog::recovered(Snapshot::default(), entries, LogIndex(0))
    }

    #[test]
    fn a_range_ending_before_the_first_entry_held_is_empty() {
        // Once compacted, asking for entries the snapshot covers yields
        // none; the old arithmetic handed back the first entry held.
        let snapshot = Snapshot {
            meta: SnapshotMeta { index: LogIndex(10), term: Term(1), ..Default::default() },
            data: Bytes::new(),
        };
        let log = RaftLog::recovered(snapshot, (11..=20).map(|i| e(i, 1)).collect(), LogIndex(10));
        assert_eq!(log.range(LogIndex(1), LogIndex(10)).count(), 0);
        assert_eq!(log.range(LogIndex(1), LogIndex(11)).map(|e| e.index).collect::<Vec<_>>(), [LogIndex(11)]);
    }

    /// Storage may hand back entries the snapshot already covers, the one
    /// at the snapshot's own index included; they must not shift the log.
    #[test]
    fn recovery_drops_entries_the_snapshot_covers_including_its_own_index() {
        let snapshot = Snapshot {
            meta: SnapshotMeta { index: LogIndex(3), term: Term(2), ..Default::default() },
            data: Bytes::new(),
        };
        let log = RaftLog::recovered(snapshot, alloc::vec![e(2, 1), e(3, 2), e(4, 2), e(5, 3)], LogIndex(4));
        assert_eq!((log.first_index(), log.last_index()), (LogIndex(4), LogIndex(5)));
        assert_eq!(log.term(LogIndex(3)), Some(Term(2)), "the snapshot answers for its own index");
        assert_eq!(log.term(LogIndex(4)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(5)), Some(Term(3)));
    }

    #[test]
    fn up_to_date_compares_last_term_then_index() {
        let log = log_with(&[1, 1, 2]);
        assert!(log.is_up_to_date(LogIndex(1), Term(3)));
        assert!(log.is_up_to_date(LogIndex(3), Term(2)));
        assert!(!log.is_up_to_date(LogIndex(2), Term(2)));
        assert!(!log.is_up_to_date(LogIndex(9), Term(1)));
    }

    #[test]
    fn conflict_hint_skips_whole_terms() {
        let log = log_with(&[1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
        assert_eq!(log.conflict_hint(LogIndex(10), Term(3)), (LogIndex(3), Term(1)));
        assert_eq!(log.conflict_hint(LogIndex(20), Term(9)), (LogIndex(10), Term(6)));
        assert_eq!(log.conflict_hint(LogIndex(7), Term(5)), (LogIndex(7), Term(5)));
        assert_eq!(log.conflict_hint(LogIndex(10), Term(0)), (LogIndex(0), Term(0)));
    }

    #[test]
    fn truncation_caps_durability_and_is_handed_to_storage() {
        let mut log = log_with(&[1, 1, 1]);
        assert_eq!(log.persisted, LogIndex(3));
        log.truncate_from(LogIndex(2));
        assert_eq!(log.last_index(), LogIndex(1));
        assert_eq!(log.persisted, LogIndex(1));
        log.push(e(2, 2));
        let mut p = Persist::default();
        log.take_unstable(PersistId(1), &mut p);
        assert_eq!(p.truncate_from, Some(LogIndex(2)));
        assert_eq!(p.entries, alloc::vec![e(2, 2)]);
        assert_eq!(log.persisted, LogIndex(1));
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(2));
    }

    #[test]
    fn a_later_truncation_caps_an_unreported_batch() {
        let mut log = log_with(&[]);
        for i in 1..=5 {
            log.push(e(i, 1));
        }
        let mut p = Persist::default();
        log.take_unstable(PersistId(1), &mut p);
        log.truncate_from(LogIndex(3));
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(2), "entries 3.. were replaced after the batch was written");
    }

    #[test]
    fn committed_entries_wait_for_durability() {
        let mut log = log_with(&[]);
        log.push(e(1, 1));
        log.push(e(2, 1));
        log.commit = LogIndex(2);
        let mut out = Vec::new();
        assert!(!log.has_committed());
        log.take_committed(&mut out);
        assert!(out.is_empty());
        let mut p = Persist::default();
        log.take_unstable(PersistId(1), &mut p);
        log.persisted_up_to(PersistId(1));
        assert!(log.has_committed());
        log.take_committed(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(log.applied, LogIndex(2));
        assert!(!log.has_committed());
    }

    #[test]
    fn a_report_covers_the_batches_up_to_its_id_and_no_later_one() {
        let mut log = log_with(&[]);
        let mut p = Persist::default();
        for (id, i) in [(1, 1), (2, 2), (3, 3)] {
            log.push(e(i, 1));
            log.take_unstable(PersistId(id), &mut p);
        }
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(1), "batch 2 is not durable yet");
        log.persisted_up_to(PersistId(3));
        assert_eq!(log.persisted, LogIndex(3), "one report for two batches");
    }

    #[test]
    fn compacting_below_the_last_stored_entry_writes_nothing_twice() {
        let mut log = log_with(&[1, 1, 2, 2]);
        log.applied = LogIndex(2);
        log.compact(Snapshot {
            meta: SnapshotMeta { index: LogIndex(2), term: Term(1), ..Default::default() },
            data: Bytes::new(),
        });
        let mut p = Persist::default();
        log.take_unstable(PersistId(1), &mut p);
        assert!(p.snapshot.is_some());
        assert!(p.entries.is_empty(), "entries 3 and 4 are already in storage: {:?}", p.entries);
        assert_eq!(log.entry(LogIndex(3)), Some(&e(3, 2)));
    }

    #[test]
    fn snapshot_install_keeps_a_matching_suffix_only() {
        let snap = |i: u64, t: u64| Snapshot {
            meta: SnapshotMeta { index: LogIndex(i), term: Term(t), ..Default::default() },
            data: Bytes::new(),
        };
        let mut log = log_with(&[1, 1, 2, 2]);
        log.install_snapshot(snap(2, 1));
        assert_eq!((log.first_index(), log.last_index()), (LogIndex(3), LogIndex(4)));
        assert_eq!(log.term(LogIndex(2)), Some(Term(1)));
        assert_eq!(log.entry(LogIndex(3)), Some(&e(3, 2)), "the kept suffix stays at its indexes");
        // Entries 3 and 4 are already in storage: only the snapshot is new.
        let mut p = Persist::default();
        log.take_unstable(PersistId(1), &mut p);
        assert!(p.snapshot.is_some());
        assert_eq!((p.truncate_from, p.entries.len()), (None, 0));
        let mut log = log_with(&[1, 1, 2, 2]);
        log.install_snapshot(snap(3, 3));
        assert_eq!(log.last_index(), LogIndex(3));
        assert_eq!(log.persisted, LogIndex(0), "durable only once the snapshot is written");
        assert_eq!(log.term(LogIndex(4)), None);
        assert_eq!(log.commit, LogIndex(3));
    }

    #[test]
    fn slice_respects_byte_budget_but_sends_at_least_one() {
        let mut log = log_with(&[]);
        for i in 1..=10 {
            log.push(Entry::command(LogIndex(i), Term(1), Bytes::from(alloc::vec![0u8; 100])));
        }
        let mut out = Vec::new();
        log.slice(LogIndex(1), 10, 100, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        log.slice(LogIndex(3), 3 * 124, 100, &mut out);
        assert_eq!(out.iter().map(|e| e.index.0).collect::<Vec<_>>(), alloc::vec![3, 4, 5]);
        out.clear();
        log.slice(LogIndex(1), usize::MAX, 4, &mut out);
        assert_eq!(out.len(), 4);
    }
}
