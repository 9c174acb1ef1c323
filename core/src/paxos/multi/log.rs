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
use crate::replica::{Entry, Snapshot};

/// A hole: nothing accepted at `index`.
pub(super) fn hole(index: LogIndex) -> Entry {
    Entry::noop(index, Term(0))
}

/// True for a hole.
pub(super) fn is_hole(e: &Entry) -> bool {
    e.term == Term(0)
}

crate::replica::log::protocol_log! {
    /// The shared [`StableLog`](crate::replica::log::StableLog), one entry
    /// per slot (holes included), with what only Paxos does to it: set any
    /// slot, and install a snapshot under the slots above it.
    PaxosLog
}

impl PaxosLog {
    /// Stores `e` in its slot: past the end (holes fill the gap) or over
    /// what is there. Returns false if nothing changed. Slots covered by
    /// the snapshot are chosen and never change.
    pub fn set(&mut self, e: Entry) -> bool {
        let index = e.index;
        let last = self.last_index();
        if index <= last {
            return self.0.replace(e);
        }
        let mut i = last.next();
        while i < index {
            self.0.push(hole(i));
            i = i.next();
        }
        self.0.push(e);
        true
    }

    /// Installs a snapshot of chosen slots. Slots above it stay: each slot
    /// of Paxos is its own instance, so what was accepted there still holds.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.0.install_snapshot(snapshot, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::log::tests::{flush, slots};
    use crate::replica::{PersistId, SnapshotMeta};
    use alloc::vec;
    use alloc::vec::Vec;
    use bytes::Bytes;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::from(alloc::format!("{i}@{t}")))
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
}
