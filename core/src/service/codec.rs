//! Small helpers for the services' binary encodings: length-prefixed
//! fields, checked against the bytes present before anything is copied
//! or allocated.

use alloc::vec::Vec;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a buffer could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed encoding: {0}")]
pub struct DecodeError(pub &'static str);

/// A cursor over an encoded buffer; slices share the buffer, no copies.
#[derive(Debug)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// Reads from `buf`.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.buf.remaining() < 1 {
            return Err(DecodeError("truncated u8"));
        }
        Ok(self.buf.get_u8())
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        if self.buf.remaining() < 4 {
            return Err(DecodeError("truncated u32"));
        }
        Ok(self.buf.get_u32_le())
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        if self.buf.remaining() < 8 {
            return Err(DecodeError("truncated u64"));
        }
        Ok(self.buf.get_u64_le())
    }

    /// A little-endian i64.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    /// A u32-length-prefixed byte string, sliced from the buffer.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        if self.buf.remaining() < n {
            return Err(DecodeError("length past end of buffer"));
        }
        Ok(self.buf.split_to(n))
    }

    /// An optional byte string: a presence byte, then the string.
    pub fn opt_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(DecodeError("bad option tag")),
        }
    }

    /// The unread remainder (shares the buffer), without consuming it.
    pub fn rest(&self) -> Bytes {
        self.buf.clone()
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// What [`put_list`] wrote; the count is checked against the bytes
    /// left (each string takes at least its 4-byte length) before
    /// anything is allocated.
    pub fn list(&mut self) -> Result<Vec<Bytes>, DecodeError> {
        let n = self.u32()? as usize;
        if self.remaining() / 4 < n {
            return Err(DecodeError("key count past end of buffer"));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.bytes()?);
        }
        Ok(items)
    }

    /// Fails unless everything was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.has_remaining() { Err(DecodeError("trailing bytes")) } else { Ok(()) }
    }
}

/// Appends a u32-length-prefixed byte string.
pub fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_u32_le(b.len() as u32);
    buf.put_slice(b);
}

/// Appends a u32 count and that many byte strings (keys, say).
pub fn put_list(buf: &mut BytesMut, items: &[Bytes]) {
    buf.put_u32_le(items.len() as u32);
    for b in items {
        put_bytes(buf, b);
    }
}

/// Appends an optional byte string.
pub fn put_opt_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => buf.put_u8(0),
        Some(b) => {
            buf.put_u8(1);
            put_bytes(buf, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_truncation_is_an_error() {
        let mut b = BytesMut::new();
        b.put_u8(7);
        b.put_u64_le(u64::MAX);
        put_bytes(&mut b, b"hello");
        put_opt_bytes(&mut b, None);
        put_opt_bytes(&mut b, Some(b"x"));
        let full = b.freeze();
        let mut r = Reader::new(full.clone());
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.i64(), Ok(-1));
        assert_eq!(r.bytes().unwrap(), &b"hello"[..]);
        assert_eq!(r.opt_bytes(), Ok(None));
        assert_eq!(r.opt_bytes().unwrap().unwrap(), &b"x"[..]);
        r.finish().unwrap();
        for cut in 0..full.len() {
            let mut r = Reader::new(full.slice(..cut));
            let ok = (|| {
                r.u8()?;
                r.u64()?;
                r.bytes()?;
                r.opt_bytes()?;
                r.opt_bytes()
            })();
            assert!(ok.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_huge_length_prefix_is_refused_without_allocating() {
        let mut b = BytesMut::new();
        b.put_u32_le(u32::MAX);
        assert!(Reader::new(b.freeze()).bytes().is_err());
    }
}
