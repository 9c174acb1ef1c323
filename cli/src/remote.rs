//! Talking to a running node as an operator: one RESP command over plain
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

/// Sends `args` to the node at `addr` and returns its reply; an error
/// reply, a refused login or a silent node (past `timeout`) is `Err`.
pub fn call(addr: &str, login: Login<'_>, args: &[&[u8]], timeout: core::time::Duration) -> Result<OwnedFrame, String> {
    let sock: core::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s =
        std::net::TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut request = Vec::new();
    if let Some((user, password)) = login {
        match user {
            Some(u) => encode(&[b"AUTH", u.as_bytes(), password.as_bytes()], &mut request),
            None => encode(&[b"AUTH", password.as_bytes()], &mut request),
        }
    }
    encode(args, &mut request);
    s.write_all(&request).map_err(|e| e.to_string())?;
    let mut authenticating = login.is_some();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).map_err(|e| format!("reading from {addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some((frame, used)) = redis_protocol::resp2::decode::decode(&buf).map_err(|e| e.to_string())? {
            buf.drain(..used);
            if let OwnedFrame::Error(e) = frame {
                return Err(format!("{addr}: {e}"));
            }
            if authenticating {
                authenticating = false;
                continue;
            }
            return Ok(frame);
        }
    }
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
