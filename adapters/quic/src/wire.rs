//! Frames on QUIC streams, the hello exchange, and why a link failed.

use crate::identity::{self, IdentityError};
use bytes::BytesMut;
use rustls::pki_types::CertificateDer;
use synod_core::id::NodeId;
use synod_net::codec::{Frame, FrameCodec, FrameError, HandshakeError, Hello};

/// Application close codes, sent with a reason phrase.
pub(crate) mod code {
    use quinn::VarInt;

    /// The node is shutting down.
    pub const CLOSING: VarInt = VarInt::from_u32(0);
    /// The handshake was refused.
    pub const REFUSED: VarInt = VarInt::from_u32(1);
    /// The peer broke the protocol after the handshake.
    pub const VIOLATION: VarInt = VarInt::from_u32(2);
    /// A newer connection from the same peer took over.
    pub const REPLACED: VarInt = VarInt::from_u32(3);
}

/// Why a connection attempt or an established link failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("stream ended inside a frame")]
    Truncated,
    #[error("unknown stream class {0}")]
    BadClass(u8),
    #[error("a second hello after the handshake")]
    SecondHello,
    #[error("no certificate from the peer")]
    NoCertificate,
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("timed out")]
    Timeout,
}

impl LinkError {
    /// True if the peer broke the protocol (cut it, log why, count it).
    pub fn is_violation(&self) -> bool {
        matches!(
            self,
            LinkError::Frame(_)
                | LinkError::Handshake(_)
                | LinkError::Identity(_)
                | LinkError::Truncated
                | LinkError::BadClass(_)
                | LinkError::SecondHello
                | LinkError::NoCertificate
        )
    }

    /// True if either side refused the other: a protocol violation, a TLS
    /// or identity failure, or the peer closing on us with a reason.
    pub fn is_refusal(&self) -> bool {
        use quinn::ConnectionError as C;
        let conn = match self {
            LinkError::Connection(c) => Some(c),
            LinkError::Read(quinn::ReadError::ConnectionLost(c)) => Some(c),
            LinkError::Write(quinn::WriteError::ConnectionLost(c)) => Some(c),
            _ => None,
        };
        match conn {
            Some(C::TransportError(_) | C::ConnectionClosed(_)) => true,
            Some(C::ApplicationClosed(c)) => c.error_code == code::REFUSED || c.error_code == code::VIOLATION,
            _ => self.is_violation(),
        }
    }

    /// The close code telling the peer why.
    pub fn close_code(&self) -> quinn::VarInt {
        match self {
            LinkError::Handshake(_) | LinkError::Identity(_) | LinkError::NoCertificate | LinkError::Timeout => {
                code::REFUSED
            }
            _ => code::VIOLATION,
        }
    }
}

impl From<quinn::ReadExactError> for LinkError {
    fn from(e: quinn::ReadExactError) -> Self {
        match e {
            quinn::ReadExactError::FinishedEarly(_) => LinkError::Truncated,
            quinn::ReadExactError::ReadError(e) => LinkError::Read(e),
        }
    }
}

/// Reads one frame and how many bytes it took, using `buf` for bytes past
/// it; `None` at a clean end of stream. An oversized length is refused
/// before anything is buffered.
pub(crate) async fn read_frame(
    recv: &mut quinn::RecvStream,
    codec: &FrameCodec,
    buf: &mut BytesMut,
) -> Result<Option<(Frame, usize)>, LinkError> {
    loop {
        let before = buf.len();
        if let Some(frame) = codec.decode(buf)? {
            return Ok(Some((frame, before - buf.len())));
        }
        match recv.read_chunk(64 * 1024, true).await? {
            Some(chunk) => buf.extend_from_slice(&chunk.bytes),
            None if buf.is_empty() => return Ok(None),
            None => return Err(LinkError::Truncated),
        }
    }
}

/// Encodes and writes one frame.
pub(crate) async fn write_frame(
    send: &mut quinn::SendStream,
    codec: &FrameCodec,
    frame: &Frame,
) -> Result<(), LinkError> {
    let mut buf = BytesMut::new();
    codec.encode(frame, &mut buf)?;
    send.write_all(&buf).await?;
    Ok(())
}

/// Our hello to `to`.
pub(crate) fn hello(cluster_id: &str, from: NodeId, to: NodeId) -> Frame {
    Frame::Hello(Hello {
        version: synod_net::codec::frame::VERSION,
        cluster_id: cluster_id.to_string(),
        from,
        to: Some(to),
    })
}

/// The largest hello accepted: a cluster id of at most 64 bytes and two
/// node ids fit with room to spare; a longer claimed length is refused
/// before anything is buffered.
const MAX_HELLO: usize = 256;

/// Reads the peer's hello off the handshake stream.
pub(crate) async fn read_hello(recv: &mut quinn::RecvStream) -> Result<Hello, LinkError> {
    match read_frame(recv, &FrameCodec::new(MAX_HELLO), &mut BytesMut::new()).await? {
        Some((Frame::Hello(h), _)) => Ok(h),
        Some(_) => Err(HandshakeError::NotHello.into()),
        None => Err(LinkError::Truncated),
    }
}

/// The node the peer's TLS certificate names (the verifiers already
/// checked the CA).
pub(crate) fn peer_node(conn: &quinn::Connection, cluster_id: &str) -> Result<NodeId, LinkError> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(LinkError::NoCertificate)?;
    let cert = certs.first().ok_or(LinkError::NoCertificate)?;
    Ok(identity::cert_node_id(cert, cluster_id)?)
}
