//! Mutual TLS over any byte stream, as the stream transport's
//! [`Authenticator`]: TCP between nodes gets the same cluster CA and node
//! certificates as QUIC, and the node id a peer speaks as is the one its
//! certificate names, never what its hello claims.

use crate::certs::NodeCert;
use crate::config::{self, TlsError};
use crate::identity;
use async_trait::async_trait;
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::pki_types::ServerName;
use std::io;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::stream::{Authenticator, Stream};

/// The ALPN protocol of synod over TLS on a byte stream.
pub const ALPN: &[u8] = b"synod-stream/1";

/// Mutual TLS on the cluster CA for the stream transport. See the
/// [module docs](self).
#[derive(Clone)]
pub struct TlsAuthenticator {
    connector: TlsConnector,
    acceptor: TlsAcceptor,
    cluster_id: String,
}

impl core::fmt::Debug for TlsAuthenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsAuthenticator").field("cluster_id", &self.cluster_id).finish_non_exhaustive()
    }
}

impl TlsAuthenticator {
    /// Authenticates as `node`; accepts connections only from nodes of
    /// `dialers` (over a stream transport every peer dials: all of them,
    /// or [`Dialers::AnyNode`](crate::config::Dialers::AnyNode) when the
    /// peers follow the cluster's configuration — the transport then
    /// admits only configured peers past the hello). Fails if `node`'s own
    /// material does not check out.
    pub fn new(node: &NodeCert, dialers: impl Into<crate::config::Dialers>) -> Result<TlsAuthenticator, TlsError> {
        config::check(node)?;
        let client = config::client_config(node, ALPN)?;
        let server = config::server_config(node, dialers, ALPN)?;
        Ok(TlsAuthenticator {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
            cluster_id: node.cluster_id().to_string(),
        })
    }
}

fn denied(e: impl core::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, e.to_string())
}

#[async_trait]
impl Authenticator for TlsAuthenticator {
    async fn dialed(&self, stream: Box<dyn Stream>, peer: NodeId) -> io::Result<Box<dyn Stream>> {
        // The server name is the peer's node name: the verifier requires a
        // certificate of the cluster CA that names exactly that node.
        let name = ServerName::try_from(identity::node_name(&self.cluster_id, peer)).map_err(denied)?;
        let tls = self.connector.connect(name, stream).await?;
        Ok(Box::new(tls))
    }

    async fn accepted(&self, stream: Box<dyn Stream>) -> io::Result<(Box<dyn Stream>, Option<NodeId>)> {
        let tls = self.acceptor.accept(stream).await?;
        // The client verifier already required one node's certificate of
        // the cluster CA; read back which node.
        let (_, conn) = tls.get_ref();
        let cert = conn.peer_certificates().and_then(|c| c.first()).ok_or_else(|| denied("no client certificate"))?;
        let id = identity::cert_node_id(cert, &self.cluster_id).map_err(denied)?;
        Ok((Box::new(tls), Some(id)))
    }
}
