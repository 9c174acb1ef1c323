//! A blocking RESP connection for the soak's clients, polite and not.

use core::time::Duration;
use redis_protocol::resp2::types::OwnedFrame;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// One connection to a RESP port.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

/// One command in RESP.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Conn {
    /// Connects to `port`, retrying for up to `patience`.
    pub fn connect(port: u16, patience: Duration) -> Conn {
        let deadline = Instant::now() + patience;
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                    let _ = stream.set_nodelay(true);
                    return Conn { stream, buf: Vec::new(), closed: false };
                }
                Err(e) if Instant::now() > deadline => panic!("cannot connect to {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// True once the server closed the connection (or a read failed).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        let ok = self.stream.write_all(bytes).is_ok();
        self.closed |= !ok;
        ok
    }

    /// The next reply, if one comes.
    pub fn reply(&mut self) -> Option<OwnedFrame> {
        loop {
            match redis_protocol::resp2::decode::decode(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Some(frame);
                }
                Ok(None) => {}
                Err(_) => {
                    self.closed = true;
                    return None;
                }
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    self.closed = true;
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a command; its reply's bulk bytes (or text), `None` if none.
    pub fn call(&mut self, args: &[&[u8]]) -> Option<Vec<u8>> {
        if !self.send(&encode(args)) {
            return None;
        }
        match self.reply()? {
            OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => Some(b),
            OwnedFrame::Error(e) => Some(e.into_bytes()),
            OwnedFrame::Integer(i) => Some(i.to_string().into_bytes()),
            OwnedFrame::Null => None,
            OwnedFrame::Array(_) => Some(b"(array)".to_vec()),
        }
    }

    /// Sends a command; its reply as text ("" if none).
    pub fn text(&mut self, args: &[&[u8]]) -> String {
        self.call(args).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}
