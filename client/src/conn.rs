//! One RESP connection: a command out, one reply in, with the reply's size
//! bounded before it is buffered.

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use std::io;
use synod_net::stream::Stream;

/// A connection to one endpoint.
pub(crate) struct Conn {
    stream: Box<dyn Stream>,
    buf: BytesMut,
    /// The endpoint it goes to.
    pub(crate) addr: String,
    max_reply: usize,
}

impl Conn {
    pub(crate) fn new(stream: Box<dyn Stream>, addr: String, max_reply: usize) -> Conn {
        Conn { stream, buf: BytesMut::new(), addr, max_reply }
    }

    /// Sends `args` as one command and reads its reply.
    pub(crate) async fn call(&mut self, args: &[Bytes]) -> io::Result<BytesFrame> {
        let frame = BytesFrame::Array(args.iter().cloned().map(BytesFrame::BulkString).collect());
        let mut out = BytesMut::new();
        extend_encode(&mut out, &frame, false).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.stream.write_all(&out).await?;
        self.stream.flush().await?;
        loop {
            match decode_bytes_mut(&mut self.buf) {
                Ok(Some((frame, _, _))) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            // A server that never ends its reply cannot make us buffer
            // without bound.
            if self.buf.len() > self.max_reply {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply larger than the client's limit"));
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
