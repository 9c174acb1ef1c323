//! Talking to a running node as an operator: RESP commands over plain
//! blocking TCP (any runtime, or none), authenticating first if asked.

use redis_protocol::resp2::types::OwnedFrame;
use std::io::{Read, Write};

/// Who to be, for a node that requires authentication: (user, password).
pub type Login<'a> = Option<(Option<&'a str>, &'a str)>;

fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One connection to a node, logged in once, for several commands (a
/// backup is read in many).
pub struct Session {
    addr: String,
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl Session {
    /// Connects to `addr` and logs in, if `login` says to; a refused login
    /// or a silent node (past `timeout`, for every later reply too) is `Err`.
    pub fn open(addr: &str, login: Login<'_>, timeout: core::time::Duration) -> Result<Session, String> {
        let sock: core::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let stream = std::net::TcpStream::connect_timeout(&sock, timeout)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let mut s = Session { addr: addr.to_string(), stream, buf: Vec::new() };
        if let Some((user, password)) = login {
            match user {
                Some(u) => s.call(&[b"AUTH", u.as_bytes(), password.as_bytes()])?,
                None => s.call(&[b"AUTH", password.as_bytes()])?,
            };
        }
        Ok(s)
    }

    /// Sends `args` and returns the reply; an error reply is `Err`.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<OwnedFrame, String> {
        let addr = &self.addr;
        let mut request = Vec::new();
        encode(args, &mut request);
        self.stream.write_all(&request).map_err(|e| format!("writing to {addr}: {e}"))?;
        let mut chunk = [0u8; 64 << 10];
        loop {
            if let Some((frame, used)) =
                redis_protocol::resp2::decode::decode(&self.buf).map_err(|e| format!("{addr}: {e}"))?
            {
                self.buf.drain(..used);
                return match frame {
                    OwnedFrame::Error(e) => Err(format!("{addr}: {e}")),
                    frame => Ok(frame),
                };
            }
            let n = self.stream.read(&mut chunk).map_err(|e| format!("reading from {addr}: {e}"))?;
            if n == 0 {
                return Err(format!("{addr} closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Sends `args` to the node at `addr` and returns its reply; an error
/// reply, a refused login or a silent node (past `timeout`) is `Err`.
pub fn call(addr: &str, login: Login<'_>, args: &[&[u8]], timeout: core::time::Duration) -> Result<OwnedFrame, String> {
    Session::open(addr, login, timeout)?.call(args)
}

/// [`call`] for a command that answers a JSON document.
pub fn call_json(
    addr: &str,
    login: Login<'_>,
    args: &[&[u8]],
    timeout: core::time::Duration,
) -> Result<serde_json::Value, String> {
    match call(addr, login, args, timeout)? {
        OwnedFrame::BulkString(b) => serde_json::from_slice(&b).map_err(|e| format!("bad document from {addr}: {e}")),
        other => Err(format!("unexpected reply {other:?}")),
    }
}
