//! RESP3, for connections that asked for it with `HELLO 3`.
//!
//! Commands build RESP2 frames; a RESP3 connection writes them in RESP3's
//! forms: the null bulk string and the null array both become RESP3's one
//! null (`_`), and a reply the command marked as a map (`HELLO`, `CONFIG
//! GET`) is written as a map (`%`) of its pairs. Everything else is
//! written the same in both protocols.

use bytes::{BufMut, BytesMut};
use redis_protocol::resp2::types::BytesFrame;

/// Appends `frame` in RESP3; `map` writes a top-level array of pairs as a
/// map.
pub(super) fn encode(out: &mut BytesMut, frame: &BytesFrame, map: bool) {
    match frame {
        BytesFrame::Array(items) if map && items.len() % 2 == 0 => {
            header(out, b'%', items.len() / 2);
            for item in items {
                encode(out, item, false);
            }
        }
        BytesFrame::Array(items) => {
            header(out, b'*', items.len());
            for item in items {
                encode(out, item, false);
            }
        }
        BytesFrame::Null => out.put_slice(b"_\r\n"),
        BytesFrame::SimpleString(s) => line(out, b'+', s),
        BytesFrame::Error(e) => line(out, b'-', e.as_bytes()),
        BytesFrame::Integer(i) => line(out, b':', i.to_string().as_bytes()),
        BytesFrame::BulkString(b) => {
            header(out, b'$', b.len());
            out.put_slice(b);
            out.put_slice(b"\r\n");
        }
    }
}

fn header(out: &mut BytesMut, kind: u8, n: usize) {
    line(out, kind, n.to_string().as_bytes());
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn written(frame: &BytesFrame, map: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(&mut out, frame, map);
        out.to_vec()
    }

    #[test]
    fn nulls_become_resp3_null_and_marked_pairs_a_map() {
        assert_eq!(written(&BytesFrame::Null, false), b"_\r\n");
        let pairs =
            BytesFrame::Array(vec![BytesFrame::BulkString(Bytes::from_static(b"proto")), BytesFrame::Integer(3)]);
        assert_eq!(written(&pairs, true), b"%1\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(written(&pairs, false), b"*2\r\n$5\r\nproto\r\n:3\r\n");
        let nested = BytesFrame::Array(vec![BytesFrame::Null, BytesFrame::Error("ERR x".into())]);
        assert_eq!(written(&nested, false), b"*2\r\n_\r\n-ERR x\r\n");
    }

    #[test]
    fn every_resp3_reply_parses_as_resp3() {
        let frame = BytesFrame::Array(vec![
            BytesFrame::SimpleString(Bytes::from_static(b"OK")),
            BytesFrame::Integer(-7),
            BytesFrame::BulkString(Bytes::from_static(b"a\r\nb")),
            BytesFrame::Null,
            BytesFrame::Array(vec![]),
        ]);
        let out = written(&frame, false);
        let parsed = redis_protocol::resp3::decode::complete::decode(&out).unwrap().unwrap();
        assert_eq!(parsed.1, out.len());
    }
}
