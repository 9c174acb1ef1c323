//! The stable log every replicated protocol keeps: a snapshot, the entries
//! after it, and what of them is committed, handed out to apply, handed to
//! storage and known durable.
//!
//! One implementation under Raft and Multi-Paxos. What differs between the
//! protocols is how an entry gets into the log, and that stays with them:
//! Raft appends ([`StableLog::push`]) and cuts a conflicting suffix
//! ([`StableLog::truncate_from`]); Multi-Paxos fills any slot, holes
//! included, and may accept a slot again ([`StableLog::replace`]). Both
//! reach storage the same way: storage takes contiguous appends and suffix
//! truncation only (see [`Persist`]), so changing an entry already handed
//! to storage truncates storage from there and writes the suffix again,
//! and every batch still unreported is capped at what still stands.
//!
//! A crash may lose any unreported write, but storage recovers a prefix of
//! the write sequence, so what was reported durable is never lost.
//!
//! **One copy of the log.** Storage holds every entry after the snapshot;
//! memory need not. [`StableLog::trim`] drops entries from the front of
//! what is held once they are durable and applied (the protocol says how
//! far lagging peers still need them), so a replica does not keep a second
//! copy of what storage already has. What is dropped keeps its terms, as
//! runs (one per term change, [`TermRuns`]): every index from the snapshot
//! on still answers [`StableLog::term`], which Raft's consistency check,
//! Multi-Paxos's commit rule and compaction need. A leader that must send
//! entries no longer held asks its caller to read them back from storage
//! ([`crate::replica::LogRead`]).

use crate::id::{LogIndex, Term};
use crate::replica::{CompactError, Entry, Persist, PersistId, Snapshot, held_range};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Entries' room the held log keeps however empty it gets (see
/// [`StableLog::trim`]).
const MIN_HELD_CAPACITY: usize = 1 << 16;

#[derive(Debug)]
pub(crate) struct StableLog {
    /// The latest snapshot; the log continues right after it.
    pub snapshot: Snapshot,
    /// The terms of the entries after the snapshot that are no longer
    /// held in memory (`snapshot index + 1 .. held_from`).
    trimmed: TermRuns,
    /// First index held in memory; `entries` start here.
    held_from: LogIndex,
    /// One entry per index from `held_from` on.
    entries: VecDeque<Entry>,
    /// Highest index known committed (Raft §5.3; in Paxos, every slot up
    /// to here holds its chosen value).
    pub commit: LogIndex,
    /// Highest index handed to the service (restores count).
    pub applied: LogIndex,
    /// Highest index whose entry, as held now, is durable here.
    pub persisted: LogIndex,
    /// First index not yet handed out in a `Persist` (as held now).
    unstable_from: LogIndex,
    /// Truncation to hand out with the next `Persist`.
    truncate_from: Option<LogIndex>,
    /// The snapshot still has to be handed out.
    snapshot_unstable: bool,
    /// Batches handed out and not yet reported, with the last index each
    /// leaves in storage.
    batches: VecDeque<(PersistId, LogIndex)>,
    /// Entries below this index may leave memory once durable and applied
    /// (the protocol sets it; 0, the default, keeps every entry).
    pub release_below: LogIndex,
}

impl StableLog {
    /// A log recovered from storage: everything in it is durable. Entries
    /// the snapshot covers (its own index included) are dropped; the
    /// stored commit index is clipped to what is held.
    pub fn recovered(snapshot: Snapshot, entries: Vec<Entry>, commit: LogIndex) -> StableLog {
        let entries: VecDeque<Entry> = entries.into_iter().filter(|e| e.index > snapshot.meta.index).collect();
        let last = entries.back().map_or(snapshot.meta.index, |e| e.index);
        let snap_index = snapshot.meta.index;
        StableLog {
            snapshot,
            trimmed: TermRuns::default(),
            held_from: snap_index.next(),
            entries,
            commit: commit.min(last).max(snap_index),
            applied: snap_index,
            persisted: last,
            unstable_from: last.next(),
            truncate_from: None,
            snapshot_unstable: false,
            batches: VecDeque::new(),
            release_below: LogIndex(0),
        }
    }

    pub fn first_index(&self) -> LogIndex {
        self.snapshot.meta.index.next()
    }

    /// First index held in memory; entries from the snapshot to here are
    /// in storage only (see [`StableLog::trim`]).
    pub fn held_from(&self) -> LogIndex {
        self.held_from
    }

    pub fn last_index(&self) -> LogIndex {
        self.entries.back().map_or(self.held_from.prev(), |e| e.index)
    }

    pub fn last_term(&self) -> Term {
        match self.entries.back() {
            Some(e) => e.term,
            None => self.term(self.held_from.prev()).unwrap_or(self.snapshot.meta.term),
        }
    }

    /// The term (in Multi-Paxos the packed ballot) at `index`, if known:
    /// the snapshot answers for its own index, the runs for entries no
    /// longer held.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.meta.index {
            return Some(self.snapshot.meta.term);
        }
        if index < self.snapshot.meta.index {
            return None;
        }
        if index < self.held_from {
            return self.trimmed.term(index);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if held in memory.
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index < self.held_from {
            return None;
        }
        self.entries.get((index.0 - self.held_from.0) as usize)
    }

    /// The entries of `from..=to` that are held in memory.
    pub fn range(&self, from: LogIndex, to: LogIndex) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.range(held_range(self.held_from.0, self.entries.len(), from, to))
    }

    /// Drops the entries below [`StableLog::release_below`] from memory,
    /// as far as they are durable and applied (storage holds them; the
    /// service has them): their terms stay known. The protocol sets
    /// `release_below` (how far lagging peers may still need entries from
    /// memory).
    pub fn trim(&mut self) {
        let floor = self.release_below.min(self.applied.next()).min(self.persisted.next()).min(self.unstable_from);
        let n = floor.0.saturating_sub(self.held_from.0).min(self.entries.len() as u64);
        if n == 0 {
            return;
        }
        for e in self.entries.drain(..n as usize) {
            self.trimmed.push(e.index, e.term);
        }
        self.held_from = self.held_from.plus(n);
        // A burst far past the usual window (a follower catching up on a
        // long stretch) grows the buffer; give it back once it is mostly
        // empty. Smaller buffers are kept: a window of proposals in flight
        // refills them every round, and shrinking would copy them again.
        let (len, cap) = (self.entries.len(), self.entries.capacity());
        if cap > MIN_HELD_CAPACITY && len < cap / 4 {
            self.entries.shrink_to((2 * len).max(MIN_HELD_CAPACITY));
        }
    }

    /// Appends one entry at `last_index + 1`.
    pub fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index().next());
        self.entries.push_back(entry);
    }

    /// Drops entries from `index` on; storage will be told to as well.
    pub fn truncate_from(&mut self, index: LogIndex) {
        // Never below what is held: trimmed entries are applied, and an
        // applied entry is committed and never cut (Raft §5.4).
        debug_assert!(index >= self.held_from);
        let keep = index.0.saturating_sub(self.held_from.0) as usize;
        if keep >= self.entries.len() {
            return;
        }
        self.entries.truncate(keep);
        // Storage may hold entries from `index` on even if they were never
        // handed out in this life (they were recovered): always truncate.
        self.rewritten_from(index);
    }

    /// Puts `e` over the entry held at its index. False if it is not held
    /// (covered by the snapshot, or past the end) or already equal.
    pub fn replace(&mut self, e: Entry) -> bool {
        let index = e.index;
        if index < self.held_from || index > self.last_index() {
            return false;
        }
        let k = (index.0 - self.held_from.0) as usize;
        if self.entries[k] == e {
            return false;
        }
        self.entries[k] = e;
        // Not yet handed to storage: the next batch carries it anyway.
        if index < self.unstable_from {
            self.rewritten_from(index);
        }
        true
    }

    /// Entries from `index` on changed after (some of) them were handed to
    /// storage: storage truncates there and takes the suffix again, and
    /// nothing from there on is durable until a later batch says so.
    fn rewritten_from(&mut self, index: LogIndex) {
        let last_kept = index.prev();
        self.persisted = self.persisted.min(last_kept);
        for (_, last) in &mut self.batches {
            *last = (*last).min(last_kept);
        }
        self.unstable_from = self.unstable_from.min(index);
        self.truncate_from = Some(self.truncate_from.map_or(index, |t| t.min(index)));
    }

    /// Installs a snapshot received from another node (commit and applied
    /// move up to it). With `keep_suffix` the entries after it stay, at
    /// their indexes; without, the log is replaced by the snapshot and
    /// storage drops every entry after it.
    pub fn install_snapshot(&mut self, snapshot: Snapshot, keep_suffix: bool) {
        let index = snapshot.meta.index;
        if !keep_suffix {
            // Nothing after the old snapshot is durable as held now until
            // the new snapshot is written; storage drops what follows it.
            self.rewritten_from(self.first_index());
            self.entries.clear();
            self.trimmed = TermRuns::default();
            self.held_from = self.first_index();
            self.truncate_from = Some(index.next());
        }
        self.compact(snapshot);
        self.commit = self.commit.max(index);
        self.applied = self.applied.max(index);
    }

    /// The term of the entry a snapshot taken at `index` would end with,
    /// if the service may compact there: above the current snapshot, and
    /// applied.
    pub fn compactable(&self, index: LogIndex) -> Result<Term, CompactError> {
        let existing = self.snapshot.meta.index;
        if index <= existing {
            return Err(CompactError::AlreadyCompacted { index, existing });
        }
        if index > self.applied {
            return Err(CompactError::NotApplied { index, applied: self.applied });
        }
        self.term(index).ok_or(CompactError::AlreadyCompacted { index, existing })
    }

    /// Takes a snapshot at its index (already applied, or installed) and
    /// drops the entries it covers.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        let drop = (index.0 + 1).saturating_sub(self.held_from.0) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.held_from = self.held_from.max(index.next());
        self.trimmed.drop_through(index);
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
            // in the log (later truncations and rewrites cap `last`).
            self.persisted = last.min(self.last_index());
        }
    }

    /// Hands out committed, durable entries not yet applied. Those that
    /// leave memory as they go (below `release_below`, with nothing applied
    /// still held before them) are moved out, not cloned: the caller's
    /// copy is the only one memory keeps.
    pub fn take_committed(&mut self, out: &mut Vec<Entry>) {
        let to = self.commit.min(self.persisted);
        if to <= self.applied {
            return;
        }
        let mut from = self.applied.next();
        if self.held_from == from {
            let last_moved = to.min(self.release_below.prev());
            let n = (last_moved.0 + 1).saturating_sub(from.0).min(self.entries.len() as u64);
            out.reserve(n as usize);
            for e in self.entries.drain(..n as usize) {
                self.trimmed.push(e.index, e.term);
                out.push(e);
            }
            from = from.plus(n);
            self.held_from = from;
        }
        out.extend(self.range(from, to).cloned());
        self.applied = to;
    }

    pub fn has_committed(&self) -> bool {
        self.commit.min(self.persisted) > self.applied
    }
}

/// The terms of a stretch of the log no longer held in memory, one run per
/// term: the first index of each run and its term. A run is as long as
/// the leader's term (Raft) or ballot (Multi-Paxos) lasted, so a few
/// words stand for millions of entries.
#[derive(Debug, Default)]
struct TermRuns {
    runs: VecDeque<(LogIndex, Term)>,
    /// One past the last index covered.
    end: LogIndex,
}

impl TermRuns {
    /// Appends `index` (right after the last one covered).
    fn push(&mut self, index: LogIndex, term: Term) {
        if self.runs.back().is_none_or(|&(_, t)| t != term) {
            self.runs.push_back((index, term));
        }
        self.end = index.next();
    }

    /// The term at `index`, if covered.
    fn term(&self, index: LogIndex) -> Option<Term> {
        if index >= self.end {
            return None;
        }
        let k = self.runs.partition_point(|&(start, _)| start <= index);
        k.checked_sub(1).map(|k| self.runs[k].1)
    }

    /// Forgets everything up to `index` (a snapshot covers it).
    fn drop_through(&mut self, index: LogIndex) {
        if index.next() >= self.end {
            self.runs.clear();
            return;
        }
        // Keep the run `index + 1` falls in, starting there.
        let k = self.runs.partition_point(|&(start, _)| start <= index.next());
        if k > 0 {
            self.runs.drain(..k - 1);
            self.runs[0].0 = index.next();
        }
    }
}

/// Declares `$name`, a protocol's own view of the shared [`StableLog`]:
/// it reads and writes as the log itself (`Deref`), and the protocol adds
/// to it only what it alone does.
macro_rules! protocol_log {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(super) struct $name($crate::replica::log::StableLog);

        impl core::ops::Deref for $name {
            type Target = $crate::replica::log::StableLog;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl core::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl $name {
            /// A log recovered from storage: everything in it is durable.
            pub fn recovered(
                snapshot: $crate::replica::Snapshot,
                entries: alloc::vec::Vec<$crate::replica::Entry>,
                commit: $crate::id::LogIndex,
            ) -> $name {
                $name($crate::replica::log::StableLog::recovered(snapshot, entries, commit))
            }
        }
    };
}
pub(crate) use protocol_log;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::replica::SnapshotMeta;
    use alloc::vec;
    use bytes::Bytes;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::from(alloc::format!("{i}@{t}")))
    }

    fn log_with(terms: &[u64]) -> StableLog {
        let entries = terms.iter().enumerate().map(|(i, t)| e(i as u64 + 1, *t)).collect();
        StableLog::recovered(Snapshot::default(), entries, LogIndex(0))
    }

    /// Hands out the next write as batch `id`.
    pub(crate) fn flush(log: &mut StableLog, id: u64) -> Persist {
        let mut p = Persist { id: PersistId(id), ..Persist::default() };
        log.take_unstable(PersistId(id), &mut p);
        p
    }

    /// The (index, term) of each entry a write carries.
    pub(crate) fn slots(p: &Persist) -> Vec<(u64, u64)> {
        p.entries.iter().map(|e| (e.index.0, e.term.0)).collect()
    }

    #[test]
    fn a_range_ending_before_the_first_entry_held_is_empty() {
        // Once compacted, asking for entries the snapshot covers yields
        // none; the old arithmetic handed back the first entry held.
        let snapshot = Snapshot {
            meta: SnapshotMeta { index: LogIndex(10), term: Term(1), ..Default::default() },
            data: Bytes::new(),
        };
        let log = StableLog::recovered(snapshot, (11..=20).map(|i| e(i, 1)).collect(), LogIndex(10));
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
        let log = StableLog::recovered(snapshot, vec![e(2, 1), e(3, 2), e(4, 2), e(5, 3)], LogIndex(4));
        assert_eq!((log.first_index(), log.last_index()), (LogIndex(4), LogIndex(5)));
        assert_eq!(log.term(LogIndex(3)), Some(Term(2)), "the snapshot answers for its own index");
        assert_eq!(log.term(LogIndex(4)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(5)), Some(Term(3)));
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
        assert_eq!(p.entries, vec![e(2, 2)]);
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
    fn a_rewrite_caps_an_unreported_batch() {
        let mut log = log_with(&[]);
        for i in 1..=5 {
            log.push(e(i, 5));
        }
        let _ = flush(&mut log, 1);
        assert!(log.replace(e(3, 9)));
        log.persisted_up_to(PersistId(1));
        assert_eq!(log.persisted, LogIndex(2), "slot 3 changed after batch 1 was written");
        let p = flush(&mut log, 2);
        assert_eq!((p.truncate_from, slots(&p)), (Some(LogIndex(3)), vec![(3, 9), (4, 5), (5, 5)]));
        assert!(!log.replace(e(3, 9)), "the same entry again changes nothing");
        assert!(!log.replace(e(6, 9)), "past the end is not a replacement");
    }

    #[test]
    fn an_overwrite_not_yet_handed_out_needs_no_truncation() {
        let mut log = StableLog::recovered(Snapshot::default(), vec![e(1, 5)], LogIndex(0));
        log.push(e(2, 5));
        assert!(log.replace(e(2, 7)));
        let p = flush(&mut log, 1);
        assert_eq!((p.truncate_from, slots(&p)), (None, vec![(2, 7)]));
    }

    #[test]
    fn trimming_keeps_every_term_and_stops_at_what_is_applied_and_durable() {
        let mut log = log_with(&[1, 1, 2, 2, 2, 3, 3, 4]);
        log.commit = LogIndex(8);
        log.applied = LogIndex(6);
        log.release_below = LogIndex(100);
        log.trim();
        assert_eq!(log.held_from(), LogIndex(7), "nothing past what is applied");
        assert_eq!(log.entry(LogIndex(6)), None);
        assert_eq!(log.range(LogIndex(1), LogIndex(8)).map(|e| e.index.0).collect::<Vec<_>>(), [7, 8]);
        let terms: Vec<_> = (0..=9).map(|i| log.term(LogIndex(i)).map(|t| t.0)).collect();
        assert_eq!(terms, [Some(0), Some(1), Some(1), Some(2), Some(2), Some(2), Some(3), Some(3), Some(4), None]);
        assert_eq!((log.first_index(), log.last_index(), log.last_term()), (LogIndex(1), LogIndex(8), Term(4)));
        // Entries not yet durable stay, whatever the floor.
        log.push(e(9, 4));
        log.applied = LogIndex(9);
        log.commit = LogIndex(9);
        log.release_below = LogIndex(100);
        log.trim();
        assert_eq!(log.held_from(), LogIndex(9), "entry 9 is not durable yet");
        let _ = flush(&mut log, 1);
        log.persisted_up_to(PersistId(1));
        log.release_below = LogIndex(100);
        log.trim();
        assert_eq!((log.held_from(), log.last_index(), log.last_term()), (LogIndex(10), LogIndex(9), Term(4)));
        assert_eq!(log.term(LogIndex(9)), Some(Term(4)), "an empty memory still knows the last term");
    }

    #[test]
    fn committed_entries_that_leave_memory_are_moved_out_and_the_rest_cloned() {
        let mut log = log_with(&[1, 1, 2, 2, 2]);
        log.commit = LogIndex(5);
        log.release_below = LogIndex(4);
        let mut out = Vec::new();
        log.take_committed(&mut out);
        assert_eq!(out.iter().map(|e| e.index.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(log.held_from(), LogIndex(4), "1..=3 were handed over, not kept");
        assert_eq!(log.entry(LogIndex(4)), Some(&e(4, 2)), "4 and 5 are still held (cloned out)");
        assert_eq!((log.term(LogIndex(2)), log.term(LogIndex(3))), (Some(Term(1)), Some(Term(2))));
        // With applied entries still held before them, nothing can move.
        log.push(e(6, 2));
        let _ = flush(&mut log, 1);
        log.persisted_up_to(PersistId(1));
        log.commit = LogIndex(6);
        log.release_below = LogIndex(7);
        out.clear();
        log.take_committed(&mut out);
        assert_eq!(out, [e(6, 2)]);
        assert_eq!(log.held_from(), LogIndex(4), "held until trimmed");
        log.trim();
        assert_eq!(log.held_from(), LogIndex(7));
    }

    #[test]
    fn term_runs_answer_every_index_and_forget_what_a_snapshot_covers() {
        let mut runs = TermRuns::default();
        for (i, t) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)] {
            runs.push(LogIndex(i), Term(t));
        }
        assert_eq!(runs.runs.len(), 3, "one run per term");
        let terms = |r: &TermRuns| (0..=7).map(|i| r.term(LogIndex(i)).map(|t| t.0)).collect::<Vec<_>>();
        assert_eq!(terms(&runs), [None, Some(1), Some(1), Some(2), Some(2), Some(3), Some(3), None]);
        // A snapshot at 3 cuts into the second run: it now starts at 4.
        runs.drop_through(LogIndex(3));
        assert_eq!(runs.runs, [(LogIndex(4), Term(2)), (LogIndex(5), Term(3))]);
        assert_eq!(terms(&runs)[4..], [Some(2), Some(3), Some(3), None]);
        // One at a run's last index drops it whole.
        runs.drop_through(LogIndex(4));
        assert_eq!(runs.runs, [(LogIndex(5), Term(3))]);
        runs.drop_through(LogIndex(6));
        assert!(runs.runs.is_empty(), "nothing covered is kept");
        assert_eq!(runs.term(LogIndex(6)), None);
    }

    #[test]
    fn compaction_over_a_trimmed_stretch_keeps_the_terms_after_it() {
        let mut log = log_with(&[1, 1, 2, 2, 3, 3]);
        log.commit = LogIndex(6);
        log.applied = LogIndex(6);
        log.release_below = LogIndex(6);
        log.trim();
        assert_eq!(log.held_from(), LogIndex(6));
        assert_eq!(log.compactable(LogIndex(4)), Ok(Term(2)), "a trimmed index can be compacted at");
        log.compact(Snapshot {
            meta: SnapshotMeta { index: LogIndex(4), term: Term(2), ..Default::default() },
            data: Bytes::new(),
        });
        let terms: Vec<_> = (3..=7).map(|i| log.term(LogIndex(i)).map(|t| t.0)).collect();
        assert_eq!(terms, [None, Some(2), Some(3), Some(3), None]);
        assert_eq!((log.first_index(), log.held_from()), (LogIndex(5), LogIndex(6)));
        log.compact(Snapshot {
            meta: SnapshotMeta { index: LogIndex(6), term: Term(3), ..Default::default() },
            data: Bytes::new(),
        });
        assert_eq!((log.first_index(), log.held_from(), log.last_index()), (LogIndex(7), LogIndex(7), LogIndex(6)));
        assert_eq!(log.term(LogIndex(5)), None);
        assert_eq!(log.term(LogIndex(6)), Some(Term(3)));
    }

    #[test]
    fn installing_a_snapshot_over_a_trimmed_log_starts_memory_after_it() {
        let mut log = log_with(&[1, 1, 1]);
        log.commit = LogIndex(3);
        log.applied = LogIndex(3);
        log.release_below = LogIndex(4);
        log.trim();
        let snap = Snapshot {
            meta: SnapshotMeta { index: LogIndex(10), term: Term(5), ..Default::default() },
            data: Bytes::new(),
        };
        log.install_snapshot(snap, false);
        assert_eq!((log.held_from(), log.last_index(), log.last_term()), (LogIndex(11), LogIndex(10), Term(5)));
        assert_eq!(log.term(LogIndex(2)), None);
        log.push(e(11, 5));
        assert_eq!(log.entry(LogIndex(11)), Some(&e(11, 5)));
    }

    #[test]
    fn ranges_clip_to_what_is_held() {
        let log = StableLog::recovered(Snapshot::default(), vec![e(1, 5), e(2, 5)], LogIndex(0));
        assert_eq!(log.range(LogIndex(0), LogIndex(9)).count(), 2);
        assert_eq!(log.range(LogIndex(2), LogIndex(2)).count(), 1);
        assert_eq!(log.range(LogIndex(3), LogIndex(9)).count(), 0);
        assert_eq!(log.range(LogIndex(2), LogIndex(1)).count(), 0);
        assert_eq!(log.range(LogIndex(0), LogIndex(0)).count(), 0);
    }
}
