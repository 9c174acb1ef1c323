//! A snapshot sent in chunks, both ends, shared by Raft and Multi-Paxos.
//!
//! The sender ([`ChunkWindow`]) keeps at most a window of chunks in
//! flight, acknowledged cumulatively by the offset the receiver holds. The
//! receiver ([`Incoming`]) appends what extends its prefix and answers
//! every chunk with that offset; it never goes back except to zero, when
//! it starts over (a restart, or a transfer of another snapshot).
//!
//! Only progress moves the window. A receiver answers every chunk with
//! what it holds, so one lost or reordered chunk draws an answer per later
//! chunk in flight; rewinding on each of those would re-send a window per
//! answer, and each re-sent chunk draws another answer: a storm that grows
//! without bound while messages are reordered (the simulator found one).
//! A lost chunk is instead re-sent when the transfer stalls (the leader's
//! heartbeat resumes it from the acknowledged chunk).

use super::progress::State;
use super::{MessageError, Snapshot, SnapshotMeta};
use crate::id::{LogIndex, NodeId};
use alloc::vec::Vec;
use bytes::Bytes;

/// Chunks in flight to one receiver.
pub(crate) const WINDOW: u64 = 4;

/// Where a transfer stands, in chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkWindow {
    /// Chunks sent (the next to send).
    pub sent: u64,
    /// Chunks the receiver holds.
    pub acked: u64,
}

impl ChunkWindow {
    /// True if a chunk of `total` may go out now: what `has_output`
    /// asks, from the same rule [`ChunkWindow::next_to_send`] follows.
    pub fn has_room(&self, total: u64) -> bool {
        self.sent < total && self.sent < self.acked + WINDOW
    }

    /// The next chunk to send, if the window has room and chunks remain;
    /// counts it as sent.
    pub fn next_to_send(&mut self, total: u64) -> Option<u64> {
        if !self.has_room(total) {
            return None;
        }
        self.sent += 1;
        Some(self.sent - 1)
    }

    /// The receiver holds `next_offset` bytes, in chunks of `chunk`.
    pub fn on_answer(&mut self, next_offset: u64, chunk: u64) {
        if next_offset == 0 && self.acked > 0 {
            // It holds nothing (it restarted, or dropped a transfer it
            // could not continue): start over.
            *self = ChunkWindow::default();
            return;
        }
        // The chunk holding the first byte it lacks; an earlier sender's
        // chunks may have ended elsewhere, and the receiver takes the part
        // of a chunk past what it holds.
        let next = next_offset / chunk;
        if next <= self.acked {
            // Stale or a repeat: no progress, nothing to re-send yet.
            return;
        }
        self.acked = next;
        self.sent = self.sent.max(next);
    }

    /// No progress for a while: re-send from the first chunk it lacks.
    pub fn resume(&mut self) {
        self.sent = self.acked;
    }
}

/// A snapshot being received from `leader`.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The sender; a transfer is dropped when another leader speaks.
    pub leader: NodeId,
    meta: SnapshotMeta,
    buf: Vec<u8>,
}

/// One chunk of a snapshot, as both protocols carry it. Chunks of one
/// snapshot share `meta`; `offset` lets a receiver resume, or restart, a
/// broken transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// The snapshot being sent.
    pub meta: SnapshotMeta,
    /// Where `data` starts in the snapshot.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// True on the last chunk.
    pub done: bool,
}

/// The answer to a snapshot chunk.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotResponse {
    /// The snapshot's last index.
    pub index: LogIndex,
    /// The next byte offset the receiver expects; 0 asks for a restart.
    pub next_offset: u64,
    /// The snapshot is installed and durable.
    pub done: bool,
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SnapshotChunk {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let data: Vec<u8> = u.arbitrary()?;
        Ok(SnapshotChunk {
            meta: u.arbitrary()?,
            offset: u.arbitrary()?,
            data: Bytes::from(data),
            done: u.arbitrary()?,
        })
    }
}

/// The chunks `snapshot` goes out in, `chunk` bytes each (an empty
/// snapshot is one empty chunk).
pub(crate) fn chunk_count(snapshot: &Snapshot, chunk: u64) -> u64 {
    (snapshot.data.len() as u64).div_ceil(chunk).max(1)
}

impl State {
    /// True if [`State::next_chunk`] would hand out a chunk: what
    /// `has_output` asks, so it never promises output the window holds
    /// back (a driver polling on it would spin). False outside `Snapshot`.
    pub fn chunk_due(&self, snapshot: &Snapshot, chunk: u64) -> bool {
        let State::Snapshot { index, window } = self else { return false };
        *index != snapshot.meta.index || window.has_room(chunk_count(snapshot, chunk))
    }

    /// The next chunk of `snapshot` for a peer being sent a snapshot, if
    /// its window has room; counts it as sent. If the sender compacted
    /// again meanwhile, the newer snapshot goes out instead, from its
    /// start. None outside `Snapshot`.
    pub fn next_chunk(&mut self, snapshot: &Snapshot, chunk: u64) -> Option<SnapshotChunk> {
        let State::Snapshot { index, window } = self else { return None };
        if *index != snapshot.meta.index {
            *index = snapshot.meta.index;
            *window = ChunkWindow::default();
        }
        let n = window.next_to_send(chunk_count(snapshot, chunk))?;
        let len = snapshot.data.len() as u64;
        let offset = n * chunk;
        let end = offset.saturating_add(chunk).min(len);
        let data = snapshot.data.slice(offset as usize..end as usize);
        Some(SnapshotChunk { meta: snapshot.meta.clone(), offset, data, done: end == len })
    }

    /// The peer holds `r.next_offset` bytes of the snapshot at `r.index`;
    /// an answer about another snapshot (or outside `Snapshot`) is stale.
    pub fn on_chunk_answer(&mut self, r: &SnapshotResponse, chunk: u64) {
        if let State::Snapshot { index, window } = self
            && *index == r.index
        {
            window.on_answer(r.next_offset, chunk);
        }
    }

    /// A heartbeat answered while chunks stall: re-send from the first
    /// chunk it lacks.
    pub fn resume_chunks(&mut self) {
        if let State::Snapshot { window, .. } = self {
            window.resume();
        }
    }
}

/// What a chunk left the receiver with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Holds this many bytes and wants the rest (the answer's offset).
    Partial(u64),
    /// The whole snapshot, to install.
    Complete(Snapshot),
}

/// Takes chunk `c` from `from` into `incoming`, refusing a snapshot past
/// `max` bytes before it is buffered.
pub(crate) fn receive(
    incoming: &mut Option<Incoming>,
    from: NodeId,
    c: SnapshotChunk,
    max: u64,
) -> Result<Received, MessageError> {
    if incoming.as_ref().is_none_or(|inc| inc.meta != c.meta) {
        if c.offset != 0 {
            // Mid-way through a snapshot we hold nothing of: start over.
            return Ok(Received::Partial(0));
        }
        *incoming = Some(Incoming { leader: from, meta: c.meta.clone(), buf: Vec::new() });
    }
    let Some(inc) = incoming.as_mut() else { return Ok(Received::Partial(0)) };
    let have = inc.buf.len() as u64;
    let end = c.offset.saturating_add(c.data.len() as u64);
    if c.offset > have || end < have || (end == have && !c.done) {
        // A gap (a chunk lost or overtaken), or nothing new: a repeat
        // never resets what we hold.
        return Ok(Received::Partial(have));
    }
    let tail = c.data.slice((have - c.offset) as usize..);
    if !super::limits::snapshot_fits(inc.buf.len(), tail.len(), max) {
        *incoming = None;
        return Err(MessageError::Malformed("snapshot exceeds max_snapshot_bytes"));
    }
    if !c.done {
        inc.buf.extend_from_slice(&tail);
        return Ok(Received::Partial(inc.buf.len() as u64));
    }
    let data = if inc.buf.is_empty() {
        tail // a one-chunk snapshot: no copy
    } else {
        inc.buf.extend_from_slice(&tail);
        Bytes::from(core::mem::take(&mut inc.buf))
    };
    *incoming = None;
    Ok(Received::Complete(Snapshot { meta: c.meta, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Runs a transfer of `total` chunks over a channel that delivers
    /// its messages in random order (seeded), resuming whenever it runs
    /// dry; returns the messages it carried, capped at `cap`.
    fn transfer_reordered(total: u64, seed: u64, cap: u64, on_answer: fn(&mut ChunkWindow, u64)) -> u64 {
        let mut rng = crate::rand::Rng::with_seed(seed);
        let mut w = ChunkWindow::default();
        let mut held = 0u64; // the receiver's chunks, in order
        // In flight: (to the receiver?, chunk or answer).
        let mut channel: Vec<(bool, u64)> = Vec::new();
        let mut carried = 0u64;
        while held < total && carried < cap {
            while let Some(c) = w.next_to_send(total) {
                channel.push((true, c));
            }
            if channel.is_empty() {
                w.resume();
                continue;
            }
            let (to_receiver, n) = channel.swap_remove(rng.below(channel.len() as u64) as usize);
            carried += 1;
            if to_receiver {
                if n == held {
                    held += 1;
                }
                channel.push((false, held));
            } else {
                on_answer(&mut w, n);
            }
        }
        carried
    }

    fn worst(rule: fn(&mut ChunkWindow, u64)) -> u64 {
        (0..50).map(|seed| transfer_reordered(100, seed, 10_000_000, rule)).max().unwrap_or(0)
    }

    #[test]
    fn reordering_costs_resends_but_never_a_storm() {
        let ours = worst(|w, a| w.on_answer(a * 17, 17));
        // Each chunk and its answer, plus up to a window re-sent per stall
        // (a chunk overtaken by later ones): linear in the chunks.
        assert!(ours < 100 * 2 * WINDOW, "{ours} messages for 100 chunks");
        // The rule this module replaced: every answer rewinds the window,
        // so each late answer re-sends up to a window, and each of those
        // draws an answer of its own.
        let rewind = worst(|w, a| {
            w.acked = a;
            w.sent = a;
        });
        assert!(rewind > 10 * ours, "the old rule carried {rewind} messages, ours {ours}");
    }

    #[test]
    fn answers_move_the_window_only_forward() {
        let mut w = ChunkWindow { sent: 6, acked: 3 };
        w.on_answer(2 * 10, 10);
        assert_eq!(w, ChunkWindow { sent: 6, acked: 3 }, "stale");
        w.on_answer(3 * 10, 10);
        assert_eq!(w, ChunkWindow { sent: 6, acked: 3 }, "a repeat");
        w.on_answer(5 * 10, 10);
        assert_eq!(w, ChunkWindow { sent: 6, acked: 5 });
        w.on_answer(9 * 10, 10);
        assert_eq!(w, ChunkWindow { sent: 9, acked: 9 }, "past what we sent (an earlier leader's chunks)");
        w.on_answer(0, 10);
        assert_eq!(w, ChunkWindow::default(), "the receiver holds nothing: start over");
        w = ChunkWindow { sent: 4, acked: 2 };
        w.on_answer(35, 10);
        assert_eq!(w, ChunkWindow { sent: 4, acked: 3 }, "other chunk boundaries: from the chunk holding byte 35");
        w = ChunkWindow { sent: 4, acked: 2 };
        w.resume();
        assert_eq!(w, ChunkWindow { sent: 2, acked: 2 });
    }

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta { index: crate::id::LogIndex(index), ..SnapshotMeta::default() }
    }

    #[test]
    fn chunks_tile_the_snapshot_and_a_newer_snapshot_starts_over() {
        let snap = |i, data: &'static [u8]| Snapshot { meta: meta(i), data: Bytes::from_static(data) };
        let s = snap(5, b"abcdefghij");
        assert_eq!(chunk_count(&s, 4), 3);
        let mut state = State::Snapshot { index: LogIndex(5), window: ChunkWindow::default() };
        assert!(state.chunk_due(&s, 4));
        let sent: Vec<_> = core::iter::from_fn(|| state.next_chunk(&s, 4)).collect();
        let sent: Vec<_> = sent.iter().map(|c| (c.offset, &c.data[..], c.done)).collect();
        assert_eq!(sent, [(0, &b"abcd"[..], false), (4, &b"efgh"[..], false), (8, &b"ij"[..], true)]);
        assert!(!state.chunk_due(&s, 4), "all sent: nothing due until an answer");
        // An answer about another snapshot moves nothing.
        state.on_chunk_answer(&SnapshotResponse { index: LogIndex(4), next_offset: 8, done: false }, 4);
        assert!(!state.chunk_due(&s, 4), "a stale answer frees no room");
        state.on_chunk_answer(&SnapshotResponse { index: LogIndex(5), next_offset: 8, done: false }, 4);
        assert!(!state.chunk_due(&s, 4), "the peer holds two chunks, the third is in flight");
        state.resume_chunks();
        assert_eq!(state.next_chunk(&s, 4).map(|c| c.offset), Some(8), "a stalled transfer re-sends what it lacks");
        // Compacted again meanwhile: the newer snapshot goes out from its start.
        let newer = snap(9, b"xy");
        assert!(state.chunk_due(&newer, 4));
        let c = state.next_chunk(&newer, 4).unwrap();
        let State::Snapshot { index, .. } = state else { unreachable!() };
        assert_eq!((index, c.meta.index, c.offset, c.done), (LogIndex(9), LogIndex(9), 0, true));
        // An empty snapshot still goes out, as one empty last chunk.
        let empty = snap(10, b"");
        assert_eq!(chunk_count(&empty, 4), 1);
        let c = state.next_chunk(&empty, 4).unwrap();
        assert!(c.done && c.data.is_empty());
        // Outside `Snapshot` nothing is due and nothing goes out.
        assert!(!State::Probe.chunk_due(&s, 4) && State::Replicate.next_chunk(&s, 4).is_none());
    }

    fn chunk(index: u64, offset: u64, data: &'static [u8], done: bool) -> SnapshotChunk {
        SnapshotChunk { meta: meta(index), offset, data: Bytes::from_static(data), done }
    }

    fn take(inc: &mut Option<Incoming>, c: SnapshotChunk) -> Received {
        receive(inc, NodeId(1), c, 1 << 20).unwrap()
    }

    #[test]
    fn the_receiver_builds_its_prefix_and_answers_what_it_holds() {
        let mut inc = None;
        assert_eq!(take(&mut inc, chunk(5, 3, b"def", false)), Received::Partial(0), "nothing held: from the start");
        assert_eq!(take(&mut inc, chunk(5, 0, b"abc", false)), Received::Partial(3));
        assert_eq!(take(&mut inc, chunk(5, 6, b"ghi", false)), Received::Partial(3), "a gap");
        assert_eq!(take(&mut inc, chunk(5, 3, b"def", false)), Received::Partial(6));
        let done = take(&mut inc, chunk(5, 6, b"ghi", true));
        assert_eq!(done, Received::Complete(Snapshot { meta: meta(5), data: Bytes::from_static(b"abcdefghi") }));
        assert!(inc.is_none());
    }

    #[test]
    fn a_late_repeat_of_the_first_chunk_does_not_reset_the_receiver() {
        // The rule this replaced started over on every offset-0 chunk, so a
        // chunk overtaken by its successors wiped them, and the sender —
        // which ignores answers below what it saw acknowledged — stalled.
        let mut inc = None;
        take(&mut inc, chunk(5, 0, b"abc", false));
        take(&mut inc, chunk(5, 3, b"def", false));
        assert_eq!(take(&mut inc, chunk(5, 0, b"abc", false)), Received::Partial(6));
    }

    #[test]
    fn chunks_cut_elsewhere_are_taken_past_what_is_held() {
        let mut inc = None;
        take(&mut inc, chunk(5, 0, b"abcd", false)); // a sender cutting 4 bytes
        assert_eq!(take(&mut inc, chunk(5, 3, b"def", false)), Received::Partial(6), "one cutting 3");
        let done = take(&mut inc, chunk(5, 6, b"g", true));
        assert_eq!(done, Received::Complete(Snapshot { meta: meta(5), data: Bytes::from_static(b"abcdefg") }));
    }

    #[test]
    fn another_snapshot_starts_over_and_an_empty_one_completes() {
        let mut inc = None;
        take(&mut inc, chunk(5, 0, b"abc", false));
        assert_eq!(take(&mut inc, chunk(9, 3, b"xyz", false)), Received::Partial(0));
        assert_eq!(
            take(&mut inc, chunk(9, 0, b"", true)),
            Received::Complete(Snapshot { meta: meta(9), data: Bytes::new() })
        );
    }

    #[test]
    fn the_receiver_refuses_a_snapshot_past_its_limit_before_buffering() {
        let mut inc = None;
        receive(&mut inc, NodeId(1), chunk(5, 0, b"abcd", false), 6).unwrap();
        let e = receive(&mut inc, NodeId(1), chunk(5, 4, b"efg", false), 6);
        assert!(matches!(e, Err(MessageError::Malformed(_))));
        assert!(inc.is_none(), "the partial snapshot is dropped");
    }

    #[test]
    fn the_window_bounds_chunks_in_flight() {
        let mut w = ChunkWindow::default();
        let sent: Vec<u64> = core::iter::from_fn(|| w.next_to_send(10)).collect();
        assert_eq!(sent, [0, 1, 2, 3]);
        w.on_answer(2, 1);
        assert_eq!(w.next_to_send(10), Some(4));
        assert_eq!(w.next_to_send(10), Some(5));
        assert_eq!(w.next_to_send(10), None);
        let mut end = ChunkWindow { sent: 9, acked: 9 };
        assert_eq!(end.next_to_send(10), Some(9));
        assert_eq!(end.next_to_send(10), None, "all sent");
    }
}
