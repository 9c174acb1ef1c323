//! The wire codec: versioned, length-prefixed frames; every message of
//! every protocol; payloads sliced from the receive buffer, never copied;
//! malformed input is a typed error, never a panic, and no allocation is
//! ever sized by an untrusted length.

pub mod client;
pub mod entry;
pub mod frame;
pub mod handshake;
pub mod paxos;
pub mod raft;

#[cfg(test)]
mod tests;

pub use frame::{Frame, FrameCodec, FrameError};
pub use handshake::{HandshakeError, Hello};

use synod_core::service::codec;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early or a length ran past its end.
    #[error("truncated or malformed field: {0}")]
    Truncated(&'static str),
    /// A tag named no known variant.
    #[error("unknown {0} tag")]
    BadTag(&'static str),
    /// A field held an impossible value.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Bytes were left over after the message.
    #[error("trailing bytes after message")]
    Trailing,
}

impl From<codec::DecodeError> for DecodeError {
    fn from(e: codec::DecodeError) -> Self {
        if e.0 == "trailing bytes" { DecodeError::Trailing } else { DecodeError::Truncated(e.0) }
    }
}
