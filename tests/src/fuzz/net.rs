//! Fuzz bodies for the wire codec and the handshake.

use bytes::BytesMut;
use synod_core::id::NodeId;
use synod_net::codec::{Frame, FrameCodec};

/// Arbitrary bytes as a stream, fed in arbitrary pieces: decoding yields
/// frames, waits, or a typed error — never a panic — and every frame that
/// decodes re-encodes to a frame that decodes to the same value.
pub fn frame_stream(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let codec = FrameCodec::new(1 << 16);
    let mut buf = BytesMut::new();
    let step = usize::from(split).max(1);
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
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
pub fn handshake(data: &[u8]) {
    let codec = FrameCodec::new(4096);
    let mut buf = BytesMut::from(data);
    if let Ok(Some(Frame::Hello(h))) = codec.decode(&mut buf) {
        let res = h.check("fuzz-cluster", NodeId(1), Some(NodeId(2)));
        if let Ok(peer) = res {
            assert_eq!(peer, NodeId(2));
            assert_eq!(h.cluster_id, "fuzz-cluster");
        }
    }
}
