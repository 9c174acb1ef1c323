//! Just enough HTTP/1.1 (keep-alive POST of JSON, `Content-Length` or
//! chunked answers) and base64 to drive etcd's JSON gateway over a plain
//! socket.

use core::net::SocketAddr;
use core::time::Duration;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// Why a request got no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// No connection: the request was never sent.
    Connect(std::io::Error),
    /// Sent, but the answer did not arrive (timeout, reset).
    Io(std::io::Error),
    /// The answer was not HTTP/1.1 as expected.
    Malformed(&'static str),
}

impl core::fmt::Display for HttpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HttpError::Connect(e) => write!(f, "connect: {e}"),
            HttpError::Io(e) => write!(f, "{e}"),
            HttpError::Malformed(why) => write!(f, "malformed answer: {why}"),
        }
    }
}

/// A keep-alive connection to one server, reopened after any error.
pub struct Http {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client of `addr` waiting at most `timeout` for each read.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Http {
        Http { addr, timeout, stream: None }
    }

    /// POSTs `body` (JSON) to `path`; returns the status and the body.
    pub fn post(&mut self, path: &str, body: &str) -> Result<(u16, String), HttpError> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout.min(Duration::from_secs(1)))
                .map_err(HttpError::Connect)?;
            let _ = s.set_nodelay(true);
            s.set_read_timeout(Some(self.timeout)).map_err(HttpError::Connect)?;
            s.set_write_timeout(Some(self.timeout)).map_err(HttpError::Connect)?;
            self.stream = Some(BufReader::new(s));
        }
        let Some(stream) = self.stream.as_mut() else { unreachable!("connected above") };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let answer = stream.get_mut().write_all(request.as_bytes()).map_err(HttpError::Io).and_then(|()| read(stream));
        match answer {
            Ok((status, body, keep)) => {
                if !keep {
                    self.stream = None;
                }
                Ok((status, body))
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

fn line(r: &mut impl BufRead) -> Result<String, HttpError> {
    let mut l = String::new();
    if r.read_line(&mut l).map_err(HttpError::Io)? == 0 {
        return Err(HttpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(l.trim_end().to_string())
}

/// Reads one answer: (status, body, whether the connection stays open).
fn read(r: &mut impl BufRead) -> Result<(u16, String, bool), HttpError> {
    let status_line = line(r)?;
    let status =
        status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(HttpError::Malformed("status line"))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        let h = line(r)?;
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else { return Err(HttpError::Malformed("header")) };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|_| HttpError::Malformed("length"))?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size = line(r)?;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or(""), 16)
                .map_err(|_| HttpError::Malformed("chunk size"))?;
            if size == 0 {
                while !line(r)?.is_empty() {}
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..]).map_err(HttpError::Io)?;
            line(r)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(HttpError::Io)?;
    } else {
        r.read_to_end(&mut body).map_err(HttpError::Io)?;
        keep = false;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), keep))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), as the gateway wants bytes.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes [`base64`]; `None` if `s` is not base64.
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &b in s {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == b)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (plain, coded) in vectors {
            assert_eq!(base64(plain.as_bytes()), coded);
            assert_eq!(unbase64(coded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(unbase64("Zm9v!"), None);
    }

    #[test]
    fn answers_with_a_length_and_chunked_answers_are_read() {
        let mut r = BufReader::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{\"a\r\n2\r\n\"}\r\n0\r\n\r\n"[..]);
        assert_eq!(read(&mut r).unwrap(), (200, "{}".to_string(), true));
        assert_eq!(read(&mut r).unwrap(), (503, "{\"a\"}".to_string(), false));
        assert!(matches!(read(&mut r), Err(HttpError::Io(_))));
    }
}
