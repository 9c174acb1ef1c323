//! Record framing: a 12-byte header, then the payload.
//!
//! ```text
//! offset 0   u32 le  payload length n
//! offset 4   u32 le  CRC32C of the payload
//! offset 8   u32 le  CRC32C of bytes 0..8 (the header check)
//! offset 12  n bytes payload
//! ```
//!
//! The header has its own check so that a damaged length is caught as
//! damage, rather than read as a record running past the end of the file
//! and mistaken for a torn write.

use bytes::BytesMut;

/// Bytes before the payload.
pub(crate) const HEADER: usize = 12;

/// The unit in which a crash can leave part of a write on disk and part not.
const SECTOR: usize = 512;

/// Appends a framed record holding `payload` to `out`.
#[cfg(test)]
pub(crate) fn frame(out: &mut BytesMut, payload: &[u8]) {
    let start = begin(out);
    out.extend_from_slice(payload);
    finish(out, start);
}

/// Reserves a header at the end of `out`; returns where the record starts.
/// Write the payload after it, then call [`finish`].
pub(crate) fn begin(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    start
}

/// Fills in the header of the record that starts at `start` and runs to
/// the end of `out`.
pub(crate) fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - HEADER) as u32;
    let crc = crc32c::crc32c(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    let check = crc32c::crc32c(&out[start..start + 8]);
    out[start + 8..start + HEADER].copy_from_slice(&check.to_le_bytes());
}

/// Payload length of the record framed in `out[start..]`.
pub(crate) fn payload_len(out: &[u8], start: usize) -> usize {
    out.len() - start - HEADER
}

/// How a scan of a file ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Every byte belonged to a whole, valid record.
    Clean,
    /// The bytes from `offset` on are what a write cut short by a crash
    /// leaves behind: a record running past the end of the file, or a
    /// record whose unwritten part reads as zeros, with nothing but zeros
    /// after it.
    Torn {
        /// Where the torn record starts; the valid log ends here.
        offset: u64,
    },
    /// The record at `offset` is damaged in a way a torn write cannot
    /// explain.
    Corrupt {
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Splits `buf` into records: returns each valid payload's offset and byte
/// range, in order, and how the scan ended. Stops at the first bad record.
pub(crate) fn scan(buf: &[u8]) -> (Vec<(u64, core::ops::Range<usize>)>, End) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        if rest.len() < HEADER {
            return (records, End::Torn { offset: at as u64 });
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let check = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if crc32c::crc32c(&rest[0..8]) != check {
            return (records, damaged(buf, at, HEADER, "record header checksum mismatch"));
        }
        if rest.len() - HEADER < len {
            // The header is intact, so the length is real: the write was cut.
            return (records, End::Torn { offset: at as u64 });
        }
        if crc32c::crc32c(&rest[HEADER..HEADER + len]) != crc {
            return (records, damaged(buf, at, HEADER + len, "record payload checksum mismatch"));
        }
        records.push((at as u64, at + HEADER..at + HEADER + len));
        at += HEADER + len;
    }
    (records, End::Clean)
}

/// Classifies a record at `start` that fails its check. It is torn only if,
/// from the record's start or from a sector boundary inside its first
/// `extent` bytes, everything to the end of the file is zeros: what a crash
/// leaves when the file grew but the last sectors written never reached
/// the disk. Anything else (a flipped bit, a valid-looking record after the
/// bad one) is damage, reported rather than cut away.
fn damaged(buf: &[u8], start: usize, extent: usize, reason: &'static str) -> End {
    let end = (start + extent).min(buf.len());
    let first_boundary = (start / SECTOR + 1) * SECTOR;
    let zero_from = |p: usize| buf[p..].iter().all(|&b| b == 0);
    let torn = zero_from(start) || (first_boundary..end).step_by(SECTOR).any(zero_from);
    if torn { End::Torn { offset: start as u64 } } else { End::Corrupt { offset: start as u64, reason } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(payloads: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for p in payloads {
            frame(&mut out, p);
        }
        out
    }

    #[test]
    fn records_round_trip() {
        let buf = log(&[b"one", b"", b"three"]);
        let (recs, end) = scan(&buf);
        assert_eq!(end, End::Clean);
        let got: Vec<&[u8]> = recs.iter().map(|(_, r)| &buf[r.clone()]).collect();
        assert_eq!(got, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(recs[1].0, (HEADER + 3) as u64);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_torn() {
        let buf = log(&[b"first", b"second record"]);
        let second = (HEADER + 5) as u64;
        for cut in second as usize..buf.len() {
            let (recs, end) = scan(&buf[..cut]);
            assert_eq!(recs.len(), 1, "cut {cut}");
            let want = if cut == second as usize { End::Clean } else { End::Torn { offset: second } };
            assert_eq!(end, want, "cut {cut}");
        }
    }

    #[test]
    fn unwritten_zeros_after_the_valid_prefix_are_torn() {
        let mut buf = log(&[b"first"]);
        let at = buf.len() as u64;
        buf.extend_from_slice(&[0; 100]);
        assert_eq!(scan(&buf).1, End::Torn { offset: at });
        // A record whose second sector never reached the disk.
        let mut buf = log(&[b"first"]);
        let at = buf.len();
        frame(&mut buf, &[7; 2 * SECTOR]);
        buf[SECTOR..].fill(0);
        assert_eq!(scan(&buf).1, End::Torn { offset: at as u64 });
    }

    #[test]
    fn a_flipped_byte_before_the_last_record_is_corruption() {
        let buf = log(&[b"first", b"second", b"third"]);
        let last = buf.len() - HEADER - 5;
        for i in 0..last {
            let mut bad = buf.clone();
            bad[i] ^= 0xff;
            let (_, end) = scan(&bad);
            assert!(matches!(end, End::Corrupt { offset, .. } if offset as usize <= i), "byte {i}: {end:?}");
        }
    }

    #[test]
    fn a_damaged_length_is_not_mistaken_for_a_torn_write() {
        let mut buf = log(&[b"first", b"second"]);
        buf[1] = 0x7f; // length now runs far past the end of the file
        assert_eq!(scan(&buf).1, End::Corrupt { offset: 0, reason: "record header checksum mismatch" });
    }
}
