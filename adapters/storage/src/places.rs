//! Where each stored entry is: the batch record that holds it, so a replica
//! that keeps only a tail of its log in memory can have older entries read
//! back ([`LogRead`](synod_core::replica::LogRead)) without a scan.
//!
//! One place per batch record with entries: the range of indexes it holds
//! as still stored, its segment and the record's offset and length there.
//! Truncations and snapshots shrink places exactly as they remove entries
//! ([`apply_batch`](synod_net::store::apply_batch) semantics), so the
//! places never overlap and name, for every stored index, the last record
//! that wrote it. Memory: one place per batch (a group commit writes many
//! entries per batch), dropped as snapshots cover them.

use std::collections::VecDeque;
use synod_core::id::LogIndex;

/// One batch record's stored entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// First and last index of it still stored.
    pub first: LogIndex,
    pub last: LogIndex,
    /// The segment, and the record's offset and length (header included).
    pub segment: u64,
    pub offset: u64,
    pub len: u64,
}

/// Every stored entry's place, in index order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Places {
    places: VecDeque<Place>,
}

impl Places {
    /// Accounts for a batch record, in the documented order: truncation,
    /// snapshot, entries (`first..=last`, none if `None`).
    pub(crate) fn apply(
        &mut self,
        truncate_from: Option<LogIndex>,
        snapshot: Option<LogIndex>,
        entries: Option<(LogIndex, LogIndex)>,
        at: (u64, u64, u64),
    ) {
        if let Some(t) = truncate_from {
            self.truncate(t);
        }
        if let Some(s) = snapshot {
            self.compact(s);
        }
        if let Some((first, last)) = entries {
            // Appends continue the log; anything at or past `first` is
            // replaced (a rewrite always carries its truncation, but the
            // places need not rely on it).
            self.truncate(first);
            let (segment, offset, len) = at;
            self.places.push_back(Place { first, last, segment, offset, len });
        }
    }

    /// Entries at or above `from` were dropped.
    fn truncate(&mut self, from: LogIndex) {
        while let Some(p) = self.places.back_mut() {
            if p.first >= from {
                self.places.pop_back();
            } else {
                p.last = p.last.min(from.prev());
                break;
            }
        }
    }

    /// Entries at or below `index` were dropped (a snapshot covers them).
    fn compact(&mut self, index: LogIndex) {
        while let Some(p) = self.places.front_mut() {
            if p.last <= index {
                self.places.pop_front();
            } else {
                p.first = p.first.max(index.next());
                break;
            }
        }
    }

    /// The place that holds `index`, or else the first after it.
    pub(crate) fn find(&self, index: LogIndex) -> Option<Place> {
        let k = self.places.partition_point(|p| p.last < index);
        self.places.get(k).copied()
    }

    /// Places held (for tests and the memory bound).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.places.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> (u64, u64, u64) {
        (1, offset, 10)
    }

    #[test]
    fn places_follow_appends_truncations_and_snapshots() {
        let mut p = Places::default();
        p.apply(None, None, Some((LogIndex(1), LogIndex(5))), at(100));
        p.apply(None, None, Some((LogIndex(6), LogIndex(9))), at(200));
        assert_eq!(p.find(LogIndex(5)).map(|x| x.offset), Some(100));
        assert_eq!(p.find(LogIndex(6)).map(|x| x.offset), Some(200));
        assert_eq!(p.find(LogIndex(10)), None);
        // A rewrite from 4: the first record keeps 1..=3, the second goes.
        p.apply(Some(LogIndex(4)), None, Some((LogIndex(4), LogIndex(4))), at(300));
        assert_eq!(p.len(), 2);
        assert_eq!(p.find(LogIndex(3)).map(|x| (x.offset, x.last)), Some((100, LogIndex(3))));
        assert_eq!(p.find(LogIndex(4)).map(|x| x.offset), Some(300));
        assert_eq!(p.find(LogIndex(5)), None);
        // A snapshot at 3 leaves only entry 4.
        p.apply(None, Some(LogIndex(3)), None, at(0));
        assert_eq!(p.find(LogIndex(3)).map(|x| x.first), Some(LogIndex(4)), "the first place after it");
        assert_eq!(p.find(LogIndex(4)).map(|x| x.first), Some(LogIndex(4)));
        assert_eq!(p.len(), 1);
        // A snapshot past everything, then a suffix after it.
        p.apply(Some(LogIndex(11)), Some(LogIndex(10)), Some((LogIndex(11), LogIndex(12))), at(400));
        assert_eq!((p.len(), p.find(LogIndex(13)), p.find(LogIndex(11)).map(|x| x.offset)), (1, None, Some(400)));
    }
}
