//! Reading the log back: every segment in order, each record checked, the
//! batches replayed exactly as [`apply_batch`](synod_net::store::apply_batch)
//! applies them.
//!
//! Only the last segment may end in a torn record (the write a crash cut
//! short); older segments were fsynced before the next one was created, so
//! anything wrong in them, or anything wrong before the last segment's
//! tail, is reported as [`StoreError::Corrupt`] with the file and offset,
//! and nothing is cut away.

use crate::dir::{Listing, segment_path};
use crate::error::corrupt;
use crate::live::Liveness;
use crate::payload::{self, Batch, Checkpoint, Record, SnapshotRef};
use crate::places::Places;
use crate::record::{self, End, HEADER};
use crate::segment;
use std::path::Path;
use synod_core::id::LogIndex;
use synod_core::replica::{Entry, HardState};
use synod_net::store::StoreError;

/// What the durable batches add up to, and what the next segment's
/// checkpoint must carry.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    /// The last stored hard state.
    pub hard_state: HardState,
    /// The current snapshot.
    pub snapshot: Option<SnapshotRef>,
    /// Which segments hold live entries.
    pub live: Liveness,
}

impl State {
    /// Accounts for a batch written to `segment`, in the documented order:
    /// truncate, snapshot, entries, hard state.
    pub(crate) fn apply(&mut self, b: &BatchView<'_>, segment: u64) {
        if let Some(t) = b.truncate_from {
            self.live.truncate(t);
        }
        if let Some(s) = b.snapshot {
            self.live.compact(s.meta.index);
            self.snapshot = Some(s.clone());
        }
        if let (Some(min), Some(max)) =
            (b.entries.iter().map(|e| e.index).min(), b.entries.iter().map(|e| e.index).max())
        {
            self.live.append(min, max, segment);
        }
        if let Some(hs) = b.hard_state {
            self.hard_state = hs;
        }
    }

    /// The checkpoint that opens segment `segment`.
    pub(crate) fn checkpoint(&self, segment: u64) -> Checkpoint {
        Checkpoint { segment, hard_state: self.hard_state, snapshot: self.snapshot.clone() }
    }
}

/// A batch as [`State::apply`] sees it, whether decoded or about to be written.
pub(crate) struct BatchView<'a> {
    pub truncate_from: Option<LogIndex>,
    pub snapshot: Option<&'a SnapshotRef>,
    pub entries: &'a [Entry],
    pub hard_state: Option<HardState>,
}

impl BatchView<'_> {
    /// The first and last index of its entries, if any.
    pub(crate) fn entry_range(&self) -> Option<(LogIndex, LogIndex)> {
        Some((self.entries.first()?.index, self.entries.last()?.index))
    }
}

/// A segment that holds at least its checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    pub seq: u64,
    /// Bytes of whole, valid records.
    pub len: u64,
    /// Batch records after the checkpoint.
    pub batches: usize,
}

/// The outcome of reading every segment.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub state: State,
    /// Stored entries after the snapshot.
    pub entries: Vec<Entry>,
    /// Segments that hold records, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// A last segment with no whole record: created just before a crash.
    pub empty_tail: Option<u64>,
    /// Where each stored entry is.
    pub places: Places,
}

impl Scan {
    /// True if the log holds nothing any replica handed out: no segment,
    /// or segment 1 with only the checkpoint of the initial state. That is
    /// all a first open writes before it claims the directory.
    pub(crate) fn holds_nothing(&self) -> bool {
        match self.segments.as_slice() {
            [] => true,
            [only] => {
                only.seq == 1
                    && only.batches == 0
                    && self.state.hard_state == HardState::default()
                    && self.state.snapshot.is_none()
            }
            _ => false,
        }
    }

    /// The last index the log recovered: its last entry's, else the
    /// snapshot's, else 0.
    pub(crate) fn last_index(&self) -> LogIndex {
        let snapshot = self.state.snapshot.as_ref().map_or(LogIndex(0), |s| s.meta.index);
        self.entries.last().map_or(snapshot, |e| e.index)
    }
}

/// Reads and replays every segment `listing` names.
pub(crate) fn scan(dir: &Path, listing: &Listing) -> Result<Scan, StoreError> {
    let mut out = Scan::default();
    let segs = &listing.segments;
    if let Some(w) = segs.windows(2).find(|w| w[1] != w[0] + 1) {
        let reason = format!("segments {} to {} are missing", w[0] + 1, w[1] - 1);
        return Err(corrupt(&segment_path(dir, w[0] + 1), 0, reason));
    }
    for (k, &seq) in segs.iter().enumerate() {
        let path = segment_path(dir, seq);
        let last = k + 1 == segs.len();
        let buf = segment::read(dir, seq)?;
        let (records, end) = record::scan(&buf);
        let len = match end {
            End::Clean => buf.len() as u64,
            End::Torn { offset } if last => offset,
            End::Torn { offset } => return Err(corrupt(&path, offset, "incomplete record in a sealed segment")),
            End::Corrupt { offset, reason } => return Err(corrupt(&path, offset, reason)),
        };
        if records.is_empty() {
            // Only a segment created just before a crash can be empty, and
            // only if there is an older one to go on from (or none was ever
            // made durable before it).
            if last && (k > 0 || seq == 1) {
                out.empty_tail = Some(seq);
                break;
            }
            return Err(corrupt(&path, 0, "segment holds no checkpoint"));
        }
        for (i, (offset, range)) in records.iter().enumerate() {
            let rec = payload::decode(buf.slice(range.clone()))
                .map_err(|e| corrupt(&path, *offset, format!("undecodable record: {e}")))?;
            match (i, rec) {
                (0, Record::Checkpoint(c)) if c.segment == seq => {
                    if k == 0 {
                        out.state.hard_state = c.hard_state;
                        out.state.snapshot = c.snapshot;
                    } else if c != out.state.checkpoint(seq) {
                        return Err(corrupt(&path, *offset, "checkpoint disagrees with the log before it"));
                    }
                }
                (0, _) => return Err(corrupt(&path, *offset, "segment does not open with its own checkpoint")),
                (_, Record::Checkpoint(_)) => return Err(corrupt(&path, *offset, "checkpoint inside a segment")),
                (_, Record::Batch(b)) => replay(&mut out, b, (seq, *offset, (HEADER + range.len()) as u64)),
            }
        }
        out.segments.push(SegmentInfo { seq, len, batches: records.len() - 1 });
    }
    Ok(out)
}

/// Replays batch `b`, stored at `at` (segment, offset, record length).
fn replay(out: &mut Scan, b: Batch, at: (u64, u64, u64)) {
    let view = BatchView {
        truncate_from: b.truncate_from,
        snapshot: b.snapshot.as_ref(),
        entries: &b.entries,
        hard_state: b.hard_state,
    };
    out.state.apply(&view, at.0);
    out.places.apply(view.truncate_from, view.snapshot.map(|s| s.meta.index), view.entry_range(), at);
    if let Some(t) = b.truncate_from {
        out.entries.retain(|e| e.index < t);
    }
    if let Some(s) = &b.snapshot {
        out.entries.retain(|e| e.index > s.meta.index);
    }
    out.entries.extend(b.entries);
}
