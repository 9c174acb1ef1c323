//! Backup files (`synod snapshot inspect`/`restore` read them from disk,
//! where anything may have happened to them): arbitrary bytes decode to a
//! snapshot or a typed error, never a panic; and what decodes re-encodes
//! to a file that decodes to the same snapshot.

use bytes::{BufMut, Bytes, BytesMut};
use synod_net::backup::{FORMAT, decode, encode};

/// The first byte picks how the rest is used: as a whole file (the
/// checksum then almost always refuses it), or as the body of a file with
/// a valid header and checksum, so the fields behind them are reached.
pub fn backup_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let file = if mode % 2 == 0 {
        Bytes::copy_from_slice(rest)
    } else {
        let mut b = BytesMut::new();
        b.put_slice(b"SYNODBAK");
        b.put_u32_le(FORMAT);
        b.put_slice(rest);
        let crc = crc32c::crc32c(&b);
        b.put_u32_le(crc);
        b.freeze()
    };
    if let Ok(snap) = decode(file) {
        assert_eq!(decode(encode(&snap)).as_ref(), Ok(&snap), "decode(encode(x)) != x");
    }
}
