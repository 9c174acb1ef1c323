//! Helpers for the transport tests: real nodes on loopback, and rogue
//! peers built straight on quinn, which can present any certificate and
//! send anything.

#![allow(dead_code)] // each test file uses its own subset

use bytes::{Bytes, BytesMut};
use core::net::SocketAddr;
use core::time::Duration;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::raft::{Append, Body, Heartbeat, Message, SnapshotChunk};
use synod_core::replica::{self, Membership, SnapshotMeta};
use synod_net::client::{ClientRequest, RequestOp};
use synod_net::codec::{Frame, FrameCodec, Hello};
use synod_net::transport::Transport;
use synod_quic::certs::{Ca, NodeCert};
use synod_quic::{QuicConfig, QuicTransport, identity, tls};

/// The cluster every test node belongs to.
pub const CLUSTER: &str = "sec";

/// How long any wait may take before the test fails: generous, for a busy
/// two-core machine.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A bound loopback UDP socket and its address.
pub fn reserve() -> (std::net::UdpSocket, SocketAddr) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a = s.local_addr().expect("local addr");
    (s, a)
}

/// A test configuration: short handshake timeout and backoff.
pub fn config(id: u64, peers: &BTreeMap<u64, SocketAddr>) -> QuicConfig {
    let peers = peers.iter().filter(|(p, _)| **p != id).map(|(p, a)| (NodeId(*p), a.to_string())).collect();
    let mut cfg = QuicConfig::new(NodeId(id), CLUSTER, peers);
    cfg.handshake_timeout = Duration::from_secs(2);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

/// Starts node `id` on `socket`.
pub fn start(ca: &Ca, id: u64, socket: std::net::UdpSocket, peers: &BTreeMap<u64, SocketAddr>) -> Arc<QuicTransport> {
    let node = ca.issue_node(NodeId(id)).expect("node certificate");
    QuicTransport::start(config(id, peers), &node, socket).expect("transport starts")
}

/// Polls `cond` until it holds, or fails the test after [`DEADLINE`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next frame `t` receives, within [`DEADLINE`].
pub async fn recv(t: &QuicTransport) -> (NodeId, Frame) {
    tokio::time::timeout(DEADLINE, t.recv()).await.expect("a frame in time").expect("transport open")
}

fn raft(body: Body) -> Frame {
    Frame::Replica(replica::Message::Raft(Message { term: Term(1), body }))
}

/// A heartbeat tagged with `round`.
pub fn heartbeat(round: u64) -> Frame {
    raft(Body::Heartbeat(Heartbeat { commit: LogIndex(0), read_round: round }))
}

/// An empty append.
pub fn append() -> Frame {
    raft(Body::Append(Append { prev_index: LogIndex(0), prev_term: Term(0), entries: vec![], commit: LogIndex(0) }))
}

/// A snapshot chunk of `len` bytes.
pub fn snapshot(len: usize) -> Frame {
    raft(Body::Snapshot(SnapshotChunk {
        meta: SnapshotMeta {
            membership: Membership::voters_only([NodeId(1), NodeId(2)]).expect("membership"),
            ..SnapshotMeta::default()
        },
        offset: 0,
        data: Bytes::from(vec![7u8; len]),
        done: true,
    }))
}

/// A forwarded client request.
pub fn request(id: u64) -> Frame {
    Frame::Request(ClientRequest { id, op: RequestOp::Query(Bytes::from_static(b"q")) })
}

/// Sends a heartbeat each way and waits for both.
pub async fn exchange(a: (u64, &QuicTransport), b: (u64, &QuicTransport), round: u64) {
    a.1.send(NodeId(b.0), heartbeat(round)).expect("queued");
    b.1.send(NodeId(a.0), heartbeat(round)).expect("queued");
    assert_eq!(recv(b.1).await, (NodeId(a.0), heartbeat(round)));
    assert_eq!(recv(a.1).await, (NodeId(b.0), heartbeat(round)));
}

/// A client-only quinn endpoint on loopback.
pub fn rogue_endpoint() -> quinn::Endpoint {
    let (socket, _) = reserve();
    quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, Arc::new(quinn::TokioRuntime))
        .expect("rogue endpoint")
}

/// A rogue server presenting `cert`, accepting `dialers`.
pub fn rogue_server(cert: &NodeCert, dialers: &[u64], stream_window: Option<u32>) -> (quinn::Endpoint, SocketAddr) {
    let (socket, addr) = reserve();
    let mut server =
        tls::server_config(cert, dialers.iter().copied().map(NodeId).collect::<BTreeSet<_>>()).expect("server config");
    if let Some(w) = stream_window {
        let mut t = quinn::TransportConfig::default();
        t.stream_receive_window(w.into());
        server.transport_config(Arc::new(t));
    }
    let e = quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(server), socket, Arc::new(quinn::TokioRuntime))
        .expect("rogue server");
    (e, addr)
}

/// Lets a rogue server complete (or fail) TLS handshakes in the
/// background; what a connection then carries is not its concern.
pub fn accept_handshakes(endpoint: &quinn::Endpoint) {
    let e = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = e.accept().await {
            tokio::spawn(async move {
                if let Ok(conn) = incoming.await {
                    conn.closed().await;
                }
            });
        }
    });
}

/// Dials `addr` as a rogue client; the error if the connection is refused
/// during or right after the handshake (a client may finish its side of
/// TLS before the server has judged its certificate).
pub async fn rogue_dial(
    endpoint: &quinn::Endpoint,
    client: quinn::ClientConfig,
    addr: SocketAddr,
    server: u64,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let name = identity::node_name(CLUSTER, NodeId(server));
    let connecting = endpoint.connect_with(client, addr, &name).expect("connect starts");
    tokio::time::timeout(DEADLINE, connecting).await.expect("handshake ends in time")
}

/// Why `conn` was closed, waiting up to [`DEADLINE`].
pub async fn close_reason(conn: &quinn::Connection) -> String {
    let e = tokio::time::timeout(DEADLINE, conn.closed()).await.expect("closed in time");
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => String::from_utf8_lossy(&c.reason).into_owned(),
        other => other.to_string(),
    }
}

/// Sends a hello on a new stream; returns the answer, if any.
pub async fn rogue_hello(conn: &quinn::Connection, cluster: &str, from: u64, to: u64) -> Option<Hello> {
    let codec = FrameCodec::default();
    let (mut send, mut recv) = conn.open_bi().await.ok()?;
    let hello = Hello {
        version: synod_net::codec::frame::VERSION,
        cluster_id: cluster.into(),
        from: NodeId(from),
        to: Some(NodeId(to)),
    };
    let mut buf = BytesMut::new();
    codec.encode(&Frame::Hello(hello), &mut buf).expect("encode");
    send.write_all(&buf).await.ok()?;
    read_frame(&mut recv).await.and_then(|f| match f {
        Frame::Hello(h) => Some(h),
        _ => None,
    })
}

/// Reads one frame from a stream (which must carry no more than that).
pub async fn read_frame(recv: &mut quinn::RecvStream) -> Option<Frame> {
    read_frames(recv, 1).await.pop()
}

/// Reads `n` frames from a stream; fewer if it ends first.
pub async fn read_frames(recv: &mut quinn::RecvStream, n: usize) -> Vec<Frame> {
    let codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    while frames.len() < n {
        if let Some(f) = codec.decode(&mut buf).expect("well-formed frames") {
            frames.push(f);
            continue;
        }
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            _ => break,
        }
    }
    frames
}

/// A client that presents `cert` and trusts any server at all: it lets a
/// test reach the server's client-certificate checks whatever CA it uses.
pub fn permissive_client(cert: &NodeCert) -> quinn::ClientConfig {
    let provider = tls::provider();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_client_auth_cert(vec![cert.cert_der().clone()], cert.key_der())
        .expect("client cert");
    cfg.alpn_protocols = vec![tls::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(cfg).expect("QUIC-capable TLS config");
    quinn::ClientConfig::new(Arc::new(quic))
}

#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Binds `addr` again once its old owner has let it go.
pub async fn rebind(addr: SocketAddr) -> std::net::UdpSocket {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        match std::net::UdpSocket::bind(addr) {
            Ok(s) => return s,
            Err(e) => assert!(tokio::time::Instant::now() < end, "cannot rebind {addr}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tokio runtime sized like the CI machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}
