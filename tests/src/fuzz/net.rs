//! Fuzz bodies for the wire codec and the handshake.

use bytes::BytesMut;
use synod_core::id::NodeId;
use synod_net::codec::{Frame, FrameCodec};
use synod_net::stream::MAX_HELLO;

/// Arbitrary bytes as a stream, fed in arbitrary pieces, read as a
/// connection is: the first frame under the hello limit (a peer that has
/// not yet been accepted may not make a node wait on more than
/// [`MAX_HELLO`] bytes), the rest under the full one. Decoding yields
/// frames, waits, or a typed error — never a panic — and every frame that
/// decodes re-encodes to a frame that decodes to the same value.
pub fn frame_stream(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let hello = FrameCodec::new(MAX_HELLO);
    let codec = FrameCodec::new(1 << 16);
    let mut greeted = false;
    let mut buf = BytesMut::new();
    let step = usize::from(split).max(1);
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let decoded = if greeted { codec.decode(&mut buf) } else { hello.decode(&mut buf) };
            if !greeted && matches!(decoded, Ok(None)) && buf.len() >= 4 {
                let declared = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                assert!(declared <= MAX_HELLO, "waiting on a {declared}-byte first frame");
            }
            if matches!(decoded, Ok(Some(_))) {
                greeted = true;
            }
            match decoded {
                Ok(Some(frame)) => round_trip(&codec, &frame),
                Ok(None) => break,
                Err(_) => return, // the connection would be closed here
            }
        }
    }
}

fn round_trip(codec: &FrameCodec, frame: &Frame) {
    let mut out = BytesMut::new();
    codec.encode(frame, &mut out).expect("a decoded frame fits the limit it was decoded under");
    let again = codec.decode(&mut out).expect("re-encoded frames decode").expect("whole frame");
    assert_eq!(&again, frame, "decode(encode(x)) != x");
}

/// Arbitrary bytes as a peer's first frame: a hello is checked against
/// this node's identity; anything else is refused. Never a panic.
///
/// The first byte says what authentication proved about the peer: nothing
/// (plain TCP; the hello's claim is all there is), or that it is node 2
/// or node 3 (its certificate). A proven peer is accepted only as itself.
pub fn handshake(data: &[u8]) {
    let Some((&auth, data)) = data.split_first() else { return };
    let proven = match auth % 3 {
        0 => None,
        1 => Some(NodeId(2)),
        _ => Some(NodeId(3)),
    };
    let codec = FrameCodec::new(MAX_HELLO);
    let mut buf = BytesMut::from(data);
    if let Ok(Some(Frame::Hello(h))) = codec.decode(&mut buf) {
        let res = h.check("fuzz-cluster", NodeId(1), proven);
        if let Ok(peer) = res {
            assert_eq!(peer, h.from);
            assert_ne!(peer, NodeId(1), "a peer accepted as this node");
            if let Some(p) = proven {
                assert_eq!(peer, p, "accepted as another node than its certificate names");
            }
            assert_eq!(h.cluster_id, "fuzz-cluster");
        }
    }
}
