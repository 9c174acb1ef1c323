//! The request parser: what Redis accepts as a command, read incrementally.
//!
//! A request is a flat array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
//! or an inline line (`GET k\r\n`), exactly as Redis's `processMultibulkBuffer`
//! and `processInlineBuffer` accept them. Nothing else is a command: a nested
//! array, an integer or a simple string inside a request is a protocol error,
//! so a request cannot nest and the parser never recurses.
//!
//! The parser keeps its place between reads. Every byte is looked at a
//! bounded number of times, however the request is cut into reads: header
//! lines are searched for their line end from where the last search stopped,
//! and a bulk string is taken whole once its declared length has arrived.
//! Work is linear in the bytes received.
//!
//! Everything a client declares is checked against [`ParseLimits`] before it
//! is believed: an array's length before any room is made for it, a bulk
//! string's length before its bytes are awaited, and the running size of the
//! whole request, so a connection buffers at most one request of
//! [`ParseLimits::max_request`] bytes.
//!
//! We wrote this parser rather than configure a crate's: `redis-protocol`
//! decodes the buffer from its first byte on every call (quadratic over an
//! unfinished request) and accepts any nesting, and the streaming RESP
//! crates we found parse all of RESP3, nesting included, where a request
//! needs a flat array and nothing more.

use bytes::{Buf, Bytes, BytesMut};

/// Bounds on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most arguments in one command, the name included.
    pub max_args: usize,
    /// Largest request, framing included.
    pub max_request: usize,
    /// Longest inline command line (Redis: 64 KiB).
    pub max_inline: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_args: 1 << 16, max_request: 4 << 20, max_inline: 64 << 10 }
    }
}

/// Why a request was refused. The connection is answered with the error
/// and closed, as Redis does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// `*n` with `n` not a number, or above the argument limit.
    #[error("invalid multibulk length")]
    MultibulkLength,
    /// `$n` with `n` not a number, negative, or above the request limit.
    #[error("invalid bulk length")]
    BulkLength,
    /// Something other than a bulk string inside a request.
    #[error("expected '$', got '{}'", char::from(*.0))]
    ExpectedBulk(u8),
    /// A bulk string not followed by CRLF.
    #[error("bulk string not terminated by CRLF")]
    Unterminated,
    /// An inline command line past the limit.
    #[error("too big inline request")]
    InlineTooBig,
    /// The request's declared size passes the limit.
    #[error("request larger than {0} bytes")]
    RequestTooLarge(usize),
}

/// Longest `*n` or `$n` header line: a sign, 20 digits and CRLF fit.
const MAX_HEADER: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between requests.
    Idle,
    /// Reading an inline line.
    Inline,
    /// Reading the `*n` line that opens an array.
    Count,
    /// Inside an array: `left` bulk strings still to come.
    Array { left: usize },
    /// A bulk string of `len` bytes (plus CRLF) is next.
    Bulk { len: usize, left: usize },
}

/// An incremental request parser; see the [module docs](self).
#[derive(Debug)]
pub struct RequestParser {
    limits: ParseLimits,
    state: State,
    args: Vec<Bytes>,
    /// Bytes at the front of the buffer already searched for a line end.
    scanned: usize,
    /// Bytes of the current request consumed or declared so far.
    size: usize,
    /// Bytes searched for line ends, over the parser's life: the tests'
    /// proof that no byte is searched twice.
    #[cfg(test)]
    searched: usize,
}

impl RequestParser {
    /// A parser at the start of a connection.
    pub fn new(limits: ParseLimits) -> RequestParser {
        RequestParser {
            limits,
            state: State::Idle,
            args: Vec::new(),
            scanned: 0,
            size: 0,
            #[cfg(test)]
            searched: 0,
        }
    }

    /// True between requests: nothing of a request is buffered or parsed.
    pub fn is_idle(&self, buffered: usize) -> bool {
        self.state == State::Idle && buffered == 0
    }

    /// Takes the next complete command off the front of `buf`: its
    /// arguments, the command name first. `Ok(None)` means more bytes are
    /// needed; whatever was consumed is remembered. Empty commands (a blank
    /// line, `*0`) are skipped, as Redis skips them.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ParseError> {
        loop {
            match self.state {
                State::Idle => {
                    let Some(&first) = buf.first() else { return Ok(None) };
                    self.size = 0;
                    self.state = if first == b'*' { State::Count } else { State::Inline };
                }
                State::Inline => {
                    let Some(line) = self.line(buf, self.limits.max_inline, ParseError::InlineTooBig)? else {
                        return Ok(None);
                    };
                    self.state = State::Idle;
                    let args = split_inline(&line);
                    if !args.is_empty() {
                        return Ok(Some(args));
                    }
                }
                State::Count => {
                    let Some(n) = self.header(buf, ParseError::MultibulkLength)? else { return Ok(None) };
                    // `*0` and `*-1` are no command at all.
                    let n = usize::try_from(n).unwrap_or(0);
                    if n > self.limits.max_args {
                        return Err(ParseError::MultibulkLength);
                    }
                    if n == 0 {
                        self.state = State::Idle;
                        continue;
                    }
                    // Room grows as arguments arrive, never on a claim.
                    self.args = Vec::with_capacity(n.min(16));
                    self.state = State::Array { left: n };
                }
                State::Array { left: 0 } => {
                    self.state = State::Idle;
                    return Ok(Some(core::mem::take(&mut self.args)));
                }
                State::Array { left } => {
                    let Some(&first) = buf.first() else { return Ok(None) };
                    if first != b'$' {
                        return Err(ParseError::ExpectedBulk(first));
                    }
                    let Some(len) = self.header(buf, ParseError::BulkLength)? else { return Ok(None) };
                    let len = usize::try_from(len).map_err(|_| ParseError::BulkLength)?;
                    if len > self.limits.max_request {
                        return Err(ParseError::BulkLength);
                    }
                    self.grow(len + 2)?;
                    self.state = State::Bulk { len, left: left - 1 };
                }
                State::Bulk { len, left } => {
                    if buf.len() < len + 2 {
                        // The length is within limits: make room for it once.
                        buf.reserve(len + 2 - buf.len());
                        return Ok(None);
                    }
                    if &buf[len..len + 2] != b"\r\n" {
                        return Err(ParseError::Unterminated);
                    }
                    let arg = buf.split_to(len).freeze();
                    buf.advance(2);
                    self.args.push(arg);
                    self.state = State::Array { left };
                }
            }
        }
    }

    /// Parses a `*n` / `$n` header line at the front of `buf`.
    fn header(&mut self, buf: &mut BytesMut, bad: ParseError) -> Result<Option<i64>, ParseError> {
        let Some(line) = self.line(buf, MAX_HEADER, bad)? else { return Ok(None) };
        parse_int(&line[1..]).ok_or(bad).map(Some)
    }

    /// Takes one CRLF- (or LF-) terminated line off `buf`, without its end,
    /// searching only bytes not searched before. A line longer than `max`
    /// is `too_long`.
    fn line(&mut self, buf: &mut BytesMut, max: usize, too_long: ParseError) -> Result<Option<Bytes>, ParseError> {
        let from = self.scanned.min(buf.len());
        #[cfg(test)]
        {
            let end = buf[from..].iter().position(|b| *b == b'\n').map_or(buf.len(), |p| from + p + 1);
            self.searched += end - from;
        }
        let Some(at) = buf[from..].iter().position(|b| *b == b'\n').map(|p| p + from) else {
            self.scanned = buf.len();
            if buf.len() > max {
                return Err(too_long);
            }
            return Ok(None);
        };
        if at > max {
            return Err(too_long);
        }
        self.scanned = 0;
        self.grow(at + 1)?;
        let mut line = buf.split_to(at + 1).freeze();
        line.truncate(at);
        if line.last() == Some(&b'\r') {
            line.truncate(at - 1);
        }
        Ok(Some(line))
    }

    /// Counts `n` more bytes against the request limit.
    fn grow(&mut self, n: usize) -> Result<(), ParseError> {
        self.size = self.size.saturating_add(n);
        if self.size > self.limits.max_request {
            return Err(ParseError::RequestTooLarge(self.limits.max_request));
        }
        Ok(())
    }
}

/// A decimal integer, optionally negative, nothing else.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: i64 = core::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Splits an inline line on spaces and tabs; the words share the line.
fn split_inline(line: &Bytes) -> Vec<Bytes> {
    line.split(|b| *b == b' ' || *b == b'\t').filter(|w| !w.is_empty()).map(|w| line.slice_ref(w)).collect()
}

#[cfg(test)]
mod tests;
