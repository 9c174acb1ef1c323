//! Raft's view of the shared stable log ([`crate::replica::log`]): the
//! rules on it that are Raft's alone.

use crate::id::{LogIndex, Term};
use crate::replica::{Entry, Snapshot};
use alloc::vec::Vec;

crate::replica::log::protocol_log! {
    /// The shared [`StableLog`](crate::replica::log::StableLog), with what
    /// only Raft does to it: compare logs for a vote, hint past a
    /// conflict, cut a message's worth of entries and install a snapshot
    /// by Raft's suffix rule.
    RaftLog
}

impl RaftLog {
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
        let keep_suffix = self.term(snapshot.meta.index) == Some(snapshot.meta.term);
        self.0.install_snapshot(snapshot, keep_suffix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::{Persist, PersistId, SnapshotMeta};
    use bytes::Bytes;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::new())
    }

    fn log_with(terms: &[u64]) -> RaftLog {
        let entries = terms.iter().enumerate().map(|(i, t)| e(i as u64 + 1, *t)).collect();
        RaftLog::recovered(Snapshot::default(), entries, LogIndex(0))
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
