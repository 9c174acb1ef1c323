//! QUIC's side of the cluster's mutual TLS: the rustls configurations of
//! [`synod_tls::config`], wrapped for quinn, and the endpoint keys.

use crate::certs::NodeCert;
use std::sync::Arc;

pub use synod_tls::config::{TlsError, check, provider};

/// The ALPN protocol every synod QUIC connection negotiates.
pub const ALPN: &[u8] = b"synod/1";

/// The endpoint configuration of `node`, with its stateless-reset key and
/// connection-id key derived from its private key: after a crash and
/// restart, the node still recognises the connection ids it handed out and
/// answers them with resets its peers accept (RFC 9000 §10.3), so their
/// stale connections end at once instead of at the idle timeout.
pub fn endpoint_config(node: &NodeCert) -> quinn::EndpointConfig {
    let derive = |label: &[u8]| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(label);
        ctx.update(node.key_der().secret_der());
        ctx.finish()
    };
    let reset = derive(b"synod-quic stateless reset key\0");
    let cid = derive(b"synod-quic connection id key\0");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&cid.as_ref()[..8]);
    let cid_key = u64::from_le_bytes(cid_key);
    let mut cfg = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset.as_ref())));
    cfg.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key)));
    cfg
}

/// The dialing side's configuration: connect with
/// [`identity::node_name`](crate::identity::node_name) of the peer as the
/// server name.
pub fn client_config(node: &NodeCert) -> Result<quinn::ClientConfig, TlsError> {
    let tls = synod_tls::config::client_config(node, ALPN)?;
    let quic =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| TlsError::Transport(e.to_string()))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

/// The accepting side's configuration: a client must present a
/// certificate of the cluster CA naming one of `dialers`.
pub fn server_config(node: &NodeCert, dialers: impl Into<synod_tls::Dialers>) -> Result<quinn::ServerConfig, TlsError> {
    let tls = synod_tls::config::server_config(node, dialers, ALPN)?;
    let quic =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| TlsError::Transport(e.to_string()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}
