//! A simulated disk: writes become durable only when a sync completes;
//! a crash keeps every durable write and, at most, a prefix of the rest.

use std::collections::VecDeque;
use synod_core::id::LogIndex;
use synod_core::replica::{Entry, Persist, PersistId, Recovered};

/// One node's storage.
#[derive(Debug, Default)]
pub struct Disk {
    /// What survives a crash for certain.
    pub durable: Recovered,
    /// Written, not yet synced, with the time each sync completes.
    pending: VecDeque<(u64, Persist)>,
}

/// A change to the durable log, reported for the Log Matching check.
#[derive(Clone, Debug)]
pub enum Stored {
    /// A snapshot replaced the log up to `.0` (index, term).
    Snapshot(LogIndex, synod_core::id::Term),
    /// Entries from this index on were dropped.
    Truncate(LogIndex),
    /// An entry was appended.
    Entry(Entry),
}

impl Disk {
    /// Queues a write that becomes durable at `sync_at`.
    pub fn write(&mut self, p: Persist, sync_at: u64) {
        // Group commit: a sync never completes before an earlier one.
        let sync_at = self.pending.back().map_or(sync_at, |(t, _)| sync_at.max(*t));
        self.pending.push_back((sync_at, p));
    }

    /// The time the next pending sync completes.
    pub fn next_sync(&self) -> Option<u64> {
        self.pending.front().map(|(t, _)| *t)
    }

    /// Completes every sync due by `now`; returns the last id made durable
    /// and the entries written, for the invariant checker.
    pub fn sync(&mut self, now: u64, written: &mut Vec<Stored>) -> Option<PersistId> {
        let mut last = None;
        while self.pending.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, p)) = self.pending.pop_front() else { break };
            last = Some(p.id);
            self.apply(&p, written);
        }
        last
    }

    /// A crash: durable writes stay; of the unsynced ones, the first
    /// `keep` may have reached the platter anyway (a prefix, never a hole).
    pub fn crash(&mut self, keep: usize, written: &mut Vec<Stored>) {
        let survivors: Vec<Persist> = self.pending.drain(..).take(keep).map(|(_, p)| p).collect();
        for p in &survivors {
            self.apply(p, written);
        }
    }

    /// The disk loses the log, synced or not (a deleted or emptied data
    /// directory that kept its identity file).
    pub fn lose_log(&mut self) {
        self.durable = Recovered::default();
        self.pending.clear();
    }

    /// Unsynced writes pending.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn apply(&mut self, p: &Persist, written: &mut Vec<Stored>) {
        let d = &mut self.durable;
        if let Some(t) = p.truncate_from {
            let keep = d.entries.iter().take_while(|e| e.index < t).count();
            d.entries.truncate(keep);
            written.push(Stored::Truncate(t));
        }
        if let Some(s) = &p.snapshot {
            let cut = s.meta.index;
            let drop = d.entries.iter().take_while(|e| e.index <= cut).count();
            d.entries.drain(..drop);
            d.snapshot = Some(s.clone());
            written.push(Stored::Snapshot(cut, s.meta.term));
            // A stored suffix now continues the snapshot: re-chain it.
            for e in &d.entries {
                written.push(Stored::Entry(e.clone()));
            }
        }
        for e in &p.entries {
            let base = d.snapshot.as_ref().map_or(LogIndex(0), |s| s.meta.index);
            let expected = d.entries.last().map_or(base.next(), |l| l.index.next());
            assert_eq!(e.index, expected, "storage contract broken: non-contiguous append");
            d.entries.push(e.clone());
            written.push(Stored::Entry(e.clone()));
        }
        if let Some(hs) = p.hard_state {
            d.hard_state = hs;
        }
    }
}

/// A fast, stable 64-bit mixer (splitmix64 finaliser over a combination).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.rotate_left(29) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a byte string.
pub fn hash_bytes(b: &[u8]) -> u64 {
    b.chunks(8).fold(b.len() as u64, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        mix(h, u64::from_le_bytes(w))
    })
}
