//! What a replica asks its caller to keep: log entries, hard state and
//! snapshots, and the write batches ([`Persist`]) that carry them.

use super::membership::Membership;
use crate::id::{LogIndex, NodeId, Term};
use alloc::vec::Vec;
use bytes::Bytes;

/// What an entry holds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// A client command, applied to the service.
    Command = 0,
    /// An empty entry a new leader appends to commit its term (Raft §8),
    /// or a gap filled by a new Multi-Paxos leader. Applied as nothing.
    Noop = 1,
    /// A configuration change; `data` is an encoded [`Membership`].
    Membership = 2,
}

impl EntryKind {
    /// The kind for a wire tag, if known.
    pub fn from_u8(tag: u8) -> Option<EntryKind> {
        match tag {
            0 => Some(EntryKind::Command),
            1 => Some(EntryKind::Noop),
            2 => Some(EntryKind::Membership),
            _ => None,
        }
    }
}

/// One slot of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its position.
    pub index: LogIndex,
    /// The term (Raft) or ballot (Multi-Paxos, packed) under which it was
    /// proposed; compared to decide which of two entries wins.
    ///
    /// **Multi-Paxos stamps one chosen slot with different ballots on
    /// different nodes**: a new leader re-proposes a chosen value under
    /// its own ballot, so two replicas can hold the same value at an index
    /// under different `term`s. Compare `data` (and `kind`), not `term`,
    /// to check that replicas agree; under Raft equal index and term do
    /// mean the same entry (Log Matching, Raft §5.3).
    pub term: Term,
    /// What it holds.
    pub kind: EntryKind,
    /// The payload, never copied by the core.
    pub data: Bytes,
}

impl Entry {
    /// A client command.
    pub fn command(index: LogIndex, term: Term, data: Bytes) -> Entry {
        Entry { index, term, kind: EntryKind::Command, data }
    }

    /// An empty entry.
    pub fn noop(index: LogIndex, term: Term) -> Entry {
        Entry { index, term, kind: EntryKind::Noop, data: Bytes::new() }
    }

    /// Bytes this entry adds to a message or a write, for batching limits.
    pub fn size(&self) -> usize {
        self.data.len() + 24
    }
}

/// State that must survive a crash before the replica acts on it.
///
/// Raft: current term and vote (Raft §5.1, Figure 2). Multi-Paxos: the
/// promised ballot, packed into `term`. `commit` is a hint that lets a
/// restarted replica apply without waiting to hear from a leader; it may lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HardState {
    /// Latest term (ballot) this node has seen.
    pub term: Term,
    /// Candidate this node voted for in `term`.
    pub vote: Option<NodeId>,
    /// Highest index known committed when this was written.
    pub commit: LogIndex,
}

/// Where a snapshot sits in the log, and the configuration in force there.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// The last index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The membership in force at `index`.
    pub membership: Membership,
}

/// A service state as of `meta.index`, as opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Where it sits.
    pub meta: SnapshotMeta,
    /// The service's serialized state.
    pub data: Bytes,
}

/// Identifies a [`Persist`]; later writes have larger ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PersistId(pub u64);

/// One batch of writes, applied by the caller in this order:
///
/// 1. `truncate_from`: drop stored entries at or above this index.
/// 2. `snapshot`: store it; entries at or below its index are dropped.
/// 3. `entries`: append; they are contiguous and continue the stored log.
/// 4. `hard_state`: replace the stored one.
///
/// The caller makes the batch durable (several batches may share one
/// sync — group commit) and then reports it with
/// [`Replica::handle_persisted`](super::Replica::handle_persisted). A crash
/// may lose any suffix of unreported batches, but storage must recover a
/// prefix of the batch sequence — never a later batch without an earlier
/// one — and each batch whole or not at all (one log record per batch does
/// both). Applied in this order, even a batch cut short leaves a valid log.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[must_use = "a Persist must be written and then reported"]
pub struct Persist {
    /// Report this id once everything here is durable.
    pub id: PersistId,
    /// A snapshot to store.
    pub snapshot: Option<Snapshot>,
    /// Drop stored entries from this index on, before appending.
    pub truncate_from: Option<LogIndex>,
    /// Entries to append.
    pub entries: Vec<Entry>,
    /// Hard state to store.
    pub hard_state: Option<HardState>,
}

impl Persist {
    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.truncate_from.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }

    /// Folds a later batch into this one, so both are written as one.
    /// Reporting the merged id reports both.
    pub fn merge(&mut self, later: Persist) {
        self.id = self.id.max(later.id);
        if let Some(from) = later.truncate_from {
            self.entries.retain(|e| e.index < from);
            // Anything already stored at or past `from` must go too.
            self.truncate_from = Some(self.truncate_from.map_or(from, |t| t.min(from)));
        }
        if let Some(snap) = later.snapshot {
            let cut = snap.meta.index;
            self.entries.retain(|e| e.index > cut);
            self.snapshot = Some(snap);
        }
        if let Some(first) = later.entries.first() {
            // An append overwrites whatever this batch held from its first
            // index on, keeping the merged entries contiguous.
            let from = first.index;
            self.entries.retain(|e| e.index < from);
        }
        self.entries.extend(later.entries);
        if later.hard_state.is_some() {
            self.hard_state = later.hard_state;
        }
    }
}

/// What storage hands back on restart: everything reported durable.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Recovered {
    /// The last stored hard state.
    pub hard_state: HardState,
    /// The last stored snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// Stored entries after the snapshot, contiguous, in index order.
    pub entries: Vec<Entry>,
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Entry {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let data: alloc::vec::Vec<u8> = u.arbitrary()?;
        Ok(Entry { index: u.arbitrary()?, term: u.arbitrary()?, kind: u.arbitrary()?, data: Bytes::from(data) })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SnapshotMeta {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let voters: alloc::vec::Vec<NodeId> = u.arbitrary()?;
        let learners: alloc::vec::Vec<NodeId> = u.arbitrary()?;
        let membership = Membership::new(voters, learners).unwrap_or_default();
        Ok(SnapshotMeta { index: u.arbitrary()?, term: u.arbitrary()?, membership })
    }
}

/// Storage must hand back a contiguous log past the snapshot `snap`
/// (entries it covers are ignored). With `terms_rise`, terms may not fall
/// along the log (Raft: a log's terms never decrease, §5.3); Multi-Paxos
/// slots carry the ballot each was accepted in, which need not rise.
pub(crate) fn check_recovered(
    snap: &SnapshotMeta,
    entries: &[Entry],
    terms_rise: bool,
) -> Result<(), super::RecoverError> {
    let mut want = snap.index.next();
    let mut term = snap.term;
    for e in entries.iter().filter(|e| e.index > snap.index) {
        if e.index != want {
            return Err(super::RecoverError::Gap { expected: want, found: e.index });
        }
        if terms_rise && e.term < term {
            return Err(super::RecoverError::TermRegression(e.index));
        }
        term = e.term;
        want = want.next();
    }
    Ok(())
}

/// Where entries `from..=to` sit in a log holding `len` entries from index
/// `first` on: clamped to what is held, empty when the two do not meet
/// (`to` below `first`, `from` past the end, `from > to`). The one rule
/// for both protocols' logs, on 32-bit targets too.
pub(crate) fn held_range(first: u64, len: usize, from: LogIndex, to: LogIndex) -> core::ops::Range<usize> {
    if to.0 < first || from > to {
        return 0..0;
    }
    let offset = |i: u64| usize::try_from(i - first).unwrap_or(usize::MAX);
    let hi = offset(to.0).saturating_add(1).min(len);
    let lo = offset(from.0.max(first)).min(hi);
    lo..hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_range_clamps_to_what_the_log_holds() {
        let r = |from, to| held_range(11, 10, LogIndex(from), LogIndex(to)); // indexes 11..=20
        assert_eq!(r(11, 20), 0..10);
        assert_eq!(r(1, 15), 0..5, "from below the first");
        assert_eq!(r(15, 99), 4..10, "to past the last");
        assert_eq!(r(1, 5), 0..0, "entirely below the first");
        assert_eq!(r(1, 10), 0..0, "ending just before the first");
        assert_eq!(r(21, 30), 10..10, "entirely past the last");
        assert_eq!(r(16, 14), 0..0, "from past to");
        assert_eq!(r(0, u64::MAX), 0..10);
        assert_eq!(held_range(1, 0, LogIndex(1), LogIndex(5)), 0..0, "an empty log");
    }
    use alloc::vec;

    fn e(i: u64, t: u64) -> Entry {
        Entry::command(LogIndex(i), Term(t), Bytes::new())
    }

    fn ids(p: &Persist) -> Vec<(u64, u64)> {
        p.entries.iter().map(|e| (e.index.0, e.term.0)).collect()
    }

    #[test]
    fn merge_appends_and_keeps_latest_hard_state() {
        let mut a = Persist { id: PersistId(1), entries: vec![e(1, 1), e(2, 1)], ..Default::default() };
        let hs = HardState { term: Term(2), vote: Some(NodeId(3)), commit: LogIndex(1) };
        a.merge(Persist { id: PersistId(2), entries: vec![e(3, 1)], hard_state: Some(hs), ..Default::default() });
        assert_eq!(a.id, PersistId(2));
        assert_eq!(ids(&a), vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!(a.hard_state, Some(hs));
        a.merge(Persist { id: PersistId(3), ..Default::default() });
        assert_eq!(a.hard_state, Some(hs), "an empty later batch keeps the hard state");
    }

    #[test]
    fn merge_truncation_cuts_pending_entries() {
        let mut a = Persist { id: PersistId(1), entries: vec![e(4, 1), e(5, 1), e(6, 1)], ..Default::default() };
        a.merge(Persist {
            id: PersistId(2),
            truncate_from: Some(LogIndex(5)),
            entries: vec![e(5, 2)],
            ..Default::default()
        });
        assert_eq!(ids(&a), vec![(4, 1), (5, 2)]);
        assert_eq!(a.truncate_from, Some(LogIndex(5)));
        // A deeper truncation later wins.
        a.merge(Persist {
            id: PersistId(3),
            truncate_from: Some(LogIndex(2)),
            entries: vec![e(2, 3)],
            ..Default::default()
        });
        assert_eq!(ids(&a), vec![(2, 3)]);
        assert_eq!(a.truncate_from, Some(LogIndex(2)));
    }

    #[test]
    fn merge_snapshot_drops_covered_entries() {
        let mut a = Persist { id: PersistId(1), entries: vec![e(1, 1), e(2, 1), e(3, 1)], ..Default::default() };
        let snap = Snapshot {
            meta: SnapshotMeta { index: LogIndex(2), term: Term(1), ..Default::default() },
            data: Bytes::new(),
        };
        a.merge(Persist { id: PersistId(2), snapshot: Some(snap.clone()), ..Default::default() });
        assert_eq!(ids(&a), vec![(3, 1)]);
        assert_eq!(a.snapshot, Some(snap));
        assert!(!a.is_empty());
        assert!(Persist::default().is_empty());
    }

    #[test]
    fn entry_kind_tags_round_trip() {
        for k in [EntryKind::Command, EntryKind::Noop, EntryKind::Membership] {
            assert_eq!(EntryKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(EntryKind::from_u8(9), None);
    }
}
