//! Reading entries back from storage: the sans-IO request / answer pair a
//! replica uses once it keeps only a tail of its log in memory (see
//! [`StableLog::trim`](super::log::StableLog::trim)).
//!
//! A leader whose peer needs entries it no longer holds hands its caller a
//! [`LogRead`] in [`Output::log_reads`](super::Output::log_reads). The
//! caller reads the entries from its storage — at once or later, on
//! another thread — and answers with
//! [`Replica::handle_log_read`](super::Replica::handle_log_read), passing
//! the request back with what it read or [`LogReadFailed`]. The leader
//! checks the answer against the terms it still knows for every index, and
//! sends it on as the peer's next message. Until the answer comes the peer
//! gets nothing new (its entries are what it waits for); a failed, refused
//! or unanswered read puts it back to probing, and the next heartbeat
//! round asks again.

use super::log::StableLog;
use super::{Entry, LogIndex};
use crate::id::NodeId;
use alloc::vec::Vec;

/// A request to read entries back from storage for a lagging peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRead {
    /// The peer the entries are for (the answer is matched to it).
    pub peer: NodeId,
    /// First index to read; the answer must start here.
    pub from: LogIndex,
    /// Last index that may be read (inclusive).
    pub to: LogIndex,
    /// Most entries to return.
    pub max_entries: usize,
    /// Byte budget ([`Entry::size`] summed); at least one entry is
    /// returned even if it alone is larger.
    pub max_bytes: usize,
}

impl LogRead {
    /// Takes entries `from..=to` from `iter` (storage's entries in index
    /// order, from `from` on; `.iter().cloned()` of a slice shares every
    /// payload) within the request's budgets. For callers' storages: one
    /// place for the budget rule.
    pub fn take(&self, iter: impl IntoIterator<Item = Entry>) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for e in iter.into_iter().take_while(|e| e.index <= self.to).take(self.max_entries) {
            bytes = bytes.saturating_add(e.size());
            if bytes > self.max_bytes && !out.is_empty() {
                break;
            }
            out.push(e);
        }
        out
    }
}

/// Storage could not serve a [`LogRead`] (an I/O error, or the entries are
/// gone): the peer is probed again after the next heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogReadFailed;

/// Why an answer to a [`LogRead`] was refused. The peer goes back to
/// probing, as for a failed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogReadError {
    /// Storage reported the read failed.
    #[error("storage could not read the entries back")]
    Failed,
    /// The answer holds no entry.
    #[error("storage returned no entries")]
    Empty,
    /// The entries do not run from the requested index without a gap, or
    /// go past the requested end.
    #[error("storage returned entries out of place at index {0}")]
    OutOfPlace(u64),
    /// An entry's term is not the one this replica knows at its index:
    /// storage returned another log's entry (or a corrupted one).
    #[error("storage returned an entry of the wrong term at index {0}")]
    WrongTerm(u64),
}

/// Checks an answer to `read`: entries from `read.from` on, contiguous,
/// within `read.to`, each of the term the log knows at its index.
pub(crate) fn check_answer(log: &StableLog, read: &LogRead, entries: &[Entry]) -> Result<(), LogReadError> {
    if entries.is_empty() {
        return Err(LogReadError::Empty);
    }
    let mut want = read.from;
    for e in entries {
        if e.index != want || e.index > read.to {
            return Err(LogReadError::OutOfPlace(e.index.0));
        }
        if log.term(e.index) != Some(e.term) {
            return Err(LogReadError::WrongTerm(e.index.0));
        }
        want = want.next();
    }
    Ok(())
}

/// How the test harnesses' storages answer read-backs.
#[cfg(test)]
pub(crate) mod testing {
    use super::{LogRead, LogReadError, LogReadFailed};
    use crate::replica::{Entry, Recovered, Replica};
    use crate::time::Instant;
    use alloc::vec::Vec;

    /// A harness's side of read-backs: how its storages answer, what they
    /// hold back, and what the replicas refused.
    #[derive(Debug)]
    pub struct ReadBacks {
        pub mode: ReadBackMode,
        /// Reads kept unanswered (`ReadBackMode::Hold`), by node.
        pub held: Vec<(u64, LogRead)>,
        /// Reads answered.
        pub served: usize,
        /// Answers the replicas refused.
        pub errors: Vec<LogReadError>,
    }

    impl Default for ReadBacks {
        fn default() -> Self {
            ReadBacks { mode: ReadBackMode::Serve, held: Vec::new(), served: 0, errors: Vec::new() }
        }
    }

    impl ReadBacks {
        /// Answers (or holds) node `id`'s `reads` from its `disk`.
        pub fn carry(
            &mut self,
            id: u64,
            disk: &Recovered,
            replica: &mut dyn Replica,
            now: Instant,
            reads: &mut Vec<LogRead>,
        ) {
            for read in reads.drain(..) {
                match answer(self.mode, disk, &read) {
                    Some(result) => {
                        self.served += 1;
                        if let Err(e) = replica.handle_log_read(now, read, result) {
                            self.errors.push(e);
                        }
                    }
                    None => self.held.push((id, read)),
                }
            }
        }
    }

    /// What a harness's storage does with a [`LogRead`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ReadBackMode {
        /// Reads the entries from the disk image at once.
        Serve,
        /// Fails every read.
        Fail,
        /// Keeps the request unanswered (a slow or lost read).
        Hold,
    }

    /// What `disk` holds for `read`, within its budgets.
    pub fn read_from(disk: &Recovered, read: &LogRead) -> Vec<Entry> {
        let k = disk.entries.partition_point(|e| e.index < read.from);
        read.take(disk.entries[k..].iter().cloned())
    }

    /// The answer `mode` gives to `read` from `disk`, if any now.
    pub fn answer(mode: ReadBackMode, disk: &Recovered, read: &LogRead) -> Option<Result<Vec<Entry>, LogReadFailed>> {
        match mode {
            ReadBackMode::Serve => Some(Ok(read_from(disk, read))),
            ReadBackMode::Fail => Some(Err(LogReadFailed)),
            ReadBackMode::Hold => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Term;
    use crate::replica::Snapshot;
    use bytes::Bytes;

    fn e(i: u64, len: usize) -> Entry {
        Entry::command(LogIndex(i), Term(1), Bytes::from(alloc::vec![0u8; len]))
    }

    fn read(from: u64, to: u64, max_entries: usize, max_bytes: usize) -> LogRead {
        LogRead { peer: NodeId(2), from: LogIndex(from), to: LogIndex(to), max_entries, max_bytes }
    }

    #[test]
    fn a_read_takes_at_least_one_entry_and_stays_within_its_budgets_and_range() {
        let stored: Vec<Entry> = (3..=9).map(|i| e(i, 10)).collect();
        let idx = |v: Vec<Entry>| v.iter().map(|e| e.index.0).collect::<Vec<_>>();
        assert_eq!(idx(read(3, 9, 100, 1 << 20).take(stored.iter().cloned())), [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(idx(read(3, 5, 100, 1 << 20).take(stored.iter().cloned())), [3, 4, 5], "not past `to`");
        assert_eq!(idx(read(3, 9, 2, 1 << 20).take(stored.iter().cloned())), [3, 4], "most entries");
        assert_eq!(idx(read(3, 9, 100, 2 * 34).take(stored.iter().cloned())), [3, 4], "bytes: 10 + 24 each");
        assert_eq!(idx(read(3, 9, 100, 1).take(stored.iter().cloned())), [3], "one entry even past the budget");
    }

    #[test]
    fn an_answer_must_start_where_asked_run_without_gaps_and_match_the_terms() {
        let mut log = StableLog::recovered(Snapshot::default(), (1..=6).map(|i| e(i, 1)).collect(), LogIndex(0));
        log.commit = LogIndex(6);
        log.applied = LogIndex(6);
        log.release_below = LogIndex(7);
        log.trim();
        let r = read(2, 4, 10, 1 << 20);
        let ok: Vec<Entry> = (2..=4).map(|i| e(i, 1)).collect();
        assert_eq!(check_answer(&log, &r, &ok), Ok(()));
        assert_eq!(check_answer(&log, &r, &[]), Err(LogReadError::Empty));
        assert_eq!(check_answer(&log, &r, &ok[1..]), Err(LogReadError::OutOfPlace(3)), "must start at `from`");
        assert_eq!(check_answer(&log, &r, &[e(2, 1), e(4, 1)]), Err(LogReadError::OutOfPlace(4)), "a gap");
        let past: Vec<Entry> = (2..=5).map(|i| e(i, 1)).collect();
        assert_eq!(check_answer(&log, &r, &past), Err(LogReadError::OutOfPlace(5)), "past `to`");
        let other = Entry { term: Term(2), ..e(3, 1) };
        assert_eq!(check_answer(&log, &r, &[e(2, 1), other]), Err(LogReadError::WrongTerm(3)));
    }
}
