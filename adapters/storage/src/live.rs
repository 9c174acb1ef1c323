//! Which segments still hold live entries, so the ones that do not can be
//! deleted.
//!
//! Live entries are tracked as runs: for each stretch of appends that went
//! to one segment, the lowest and highest index appended there. Truncations
//! and snapshots shrink runs exactly as they remove entries
//! ([`apply_batch`](synod_net::store::apply_batch) semantics), so a run
//! always covers at least its segment's live entries: the estimate can keep
//! a segment too long, never delete one too early.
//!
//! Why deleting every segment older than the oldest run is safe: each
//! segment opens with a checkpoint holding the hard state and snapshot as of
//! its start. Replaying from segment `k` differs from replaying everything
//! only in the entries that were live when `k` began, which were appended
//! to older segments; once no run points below `k` they have all been
//! removed, and removed entries never come back.

use std::collections::VecDeque;
use synod_core::id::LogIndex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    min: u64,
    max: u64,
    segment: u64,
}

/// Live entries, by segment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Liveness {
    runs: VecDeque<Run>,
}

impl Liveness {
    /// Entries in `min..=max` were appended to `segment`.
    pub(crate) fn append(&mut self, min: LogIndex, max: LogIndex, segment: u64) {
        match self.runs.back_mut() {
            Some(r) if r.segment == segment => {
                r.min = r.min.min(min.0);
                r.max = r.max.max(max.0);
            }
            _ => self.runs.push_back(Run { min: min.0, max: max.0, segment }),
        }
    }

    /// Entries at or above `from` were dropped.
    pub(crate) fn truncate(&mut self, from: LogIndex) {
        self.runs.retain_mut(|r| {
            r.max = r.max.min(from.0.saturating_sub(1));
            r.min < from.0
        });
    }

    /// Entries at or below `index` were dropped (a snapshot covers them).
    pub(crate) fn compact(&mut self, index: LogIndex) {
        self.runs.retain_mut(|r| {
            r.min = r.min.max(index.0.saturating_add(1));
            r.max > index.0
        });
    }

    /// The oldest segment holding a live entry.
    pub(crate) fn oldest_segment(&self) -> Option<u64> {
        self.runs.iter().map(|r| r.segment).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(n: u64) -> LogIndex {
        LogIndex(n)
    }

    #[test]
    fn snapshots_and_truncations_release_segments() {
        let mut l = Liveness::default();
        assert_eq!(l.oldest_segment(), None);
        l.append(i(1), i(10), 1);
        l.append(i(11), i(20), 2);
        l.append(i(21), i(25), 2);
        l.append(i(26), i(30), 3);
        assert_eq!(l.oldest_segment(), Some(1));
        l.compact(i(9));
        assert_eq!(l.oldest_segment(), Some(1), "index 10 is still live in segment 1");
        l.compact(i(10));
        assert_eq!(l.oldest_segment(), Some(2));
        // A truncation below segment 3's entries, then a rewrite in segment 4.
        l.truncate(i(18));
        l.append(i(18), i(40), 4);
        assert_eq!(l.oldest_segment(), Some(2));
        l.compact(i(17));
        assert_eq!(l.oldest_segment(), Some(4));
        l.compact(i(40));
        assert_eq!(l.oldest_segment(), None);
    }

    #[test]
    fn truncating_everything_releases_everything() {
        let mut l = Liveness::default();
        l.append(i(5), i(9), 1);
        l.truncate(i(5));
        assert_eq!(l.oldest_segment(), None);
        l.append(i(5), i(5), 2);
        l.truncate(i(6));
        assert_eq!(l.oldest_segment(), Some(2));
    }
}
