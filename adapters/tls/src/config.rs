//! The rustls configurations of mutual TLS between the nodes of one
//! cluster, on the `ring` provider (passed explicitly everywhere; the
//! process-wide default is never read or installed). Every transport
//! (QUIC, TLS over TCP) builds on these.
//!
//! Both sides trust the cluster CA alone, and both check the identity on
//! top of the CA: the dialer requires the certificate of the node it
//! dialed (`node-<id>.<cluster>.synod`); the acceptor requires a
//! certificate naming a configured peer that may dial it, and after the
//! synod hello, that the hello claims the node the certificate names.

use crate::certs::NodeCert;
use crate::identity::{self, IdentityError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use std::collections::BTreeSet;
use std::sync::Arc;
use synod_core::id::NodeId;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// rustls refused the certificate, key or settings.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The node certificate does not name this node.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The certificate does not verify under the cluster CA.
    #[error("the certificate is not valid under the cluster CA: {0}")]
    Chain(String),
    /// The private key does not belong to the certificate.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// The transport cannot run on this TLS configuration.
    #[error("the transport cannot use this TLS configuration: {0}")]
    Transport(String),
}

/// The crypto provider: `ring`.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(node: &NodeCert) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(node.ca_der().clone())?;
    Ok(Arc::new(roots))
}

fn refuse(e: IdentityError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(Refusal(e)))))
}

/// rustls shows a custom certificate error with `Debug`: make that the
/// readable message.
struct Refusal(IdentityError);

impl core::fmt::Debug for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for Refusal {}

/// Checks a node's own material: the CA signed the certificate, the
/// certificate names the node, and the key is the certificate's.
pub fn check(node: &NodeCert) -> Result<(), TlsError> {
    let p = provider();
    let parsed = ParsedCertificate::try_from(node.cert_der())?;
    let roots = roots(node)?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        &[],
        UnixTime::now(),
        p.signature_verification_algorithms.all,
    )
    .map_err(|e| match e {
        rustls::Error::InvalidCertificate(c) => TlsError::Chain(c.to_string()),
        other => TlsError::Chain(other.to_string()),
    })?;
    let named = identity::cert_node_id(node.cert_der(), node.cluster_id())?;
    if named != node.id() {
        return Err(IdentityError::Mismatch { cert: named, claimed: node.id() }.into());
    }
    let key = p.key_provider.load_private_key(node.key_der())?;
    CertifiedKey::new(vec![node.cert_der().clone()], key).keys_match().map_err(|_| TlsError::KeyMismatch)
}

/// The dialing side's configuration, offering `alpn`: connect with
/// [`identity::node_name`] of the peer as the server name.
pub fn client_config(node: &NodeCert, alpn: &[u8]) -> Result<rustls::ClientConfig, TlsError> {
    let p = provider();
    let verifier = Arc::new(PeerServerVerifier {
        roots: roots(node)?,
        algs: p.signature_verification_algorithms,
        cluster_id: node.cluster_id().to_string(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![node.cert_der().clone()], node.key_der())?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    // Every connection runs the verifiers in full.
    tls.resumption = rustls::client::Resumption::disabled();
    Ok(tls)
}

/// Which nodes may dial this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialers {
    /// Only these, whatever else the cluster CA certified.
    Only(BTreeSet<NodeId>),
    /// Any node the cluster CA certified: for a transport that admits
    /// only its configured peers after the handshake, and whose peers
    /// change with the cluster's configuration.
    AnyNode,
    /// Any node the cluster CA certified with an id below this one: for a
    /// transport where, of every pair of nodes, the lower id dials (QUIC),
    /// whose peers change with the configuration.
    Below(NodeId),
}

impl From<BTreeSet<NodeId>> for Dialers {
    fn from(ids: BTreeSet<NodeId>) -> Self {
        Dialers::Only(ids)
    }
}

/// The accepting side's configuration, requiring `alpn`: a client must
/// present a certificate of the cluster CA naming one of `dialers`.
pub fn server_config(
    node: &NodeCert,
    dialers: impl Into<Dialers>,
    alpn: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let dialers = dialers.into();
    let p = provider();
    let inner = WebPkiClientVerifier::builder_with_provider(roots(node)?, p.clone()).build()?;
    let verifier = Arc::new(PeerClientVerifier { inner, cluster_id: node.cluster_id().to_string(), dialers });
    let mut tls = rustls::ServerConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![node.cert_der().clone()], node.key_der())?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.session_storage = Arc::new(NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    Ok(tls)
}

/// Verifies the node we dialed: the cluster CA signed it, and it names
/// the node whose name we dialed.
#[derive(Debug)]
struct PeerServerVerifier {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
    cluster_id: String,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        let ServerName::DnsName(dns) = server_name else {
            return Err(rustls::Error::General("dialed a synod node by IP address".into()));
        };
        let Some(expected) = identity::parse_node_name(&self.cluster_id, dns.as_ref()) else {
            return Err(rustls::Error::General(format!("{:?} is not a node of this cluster", dns.as_ref())));
        };
        let named = identity::cert_node_id(end_entity, &self.cluster_id).map_err(refuse)?;
        if named != expected {
            return Err(refuse(IdentityError::Mismatch { cert: named, claimed: expected }));
        }
        // The CA's name constraint and the SAN agree with what we parsed.
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Verifies a node dialing us: the cluster CA signed it (webpki), and it
/// names exactly one node, one allowed to dial us.
#[derive(Debug)]
struct PeerClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    cluster_id: String,
    dialers: Dialers,
}

impl ClientCertVerifier for PeerClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let named = identity::cert_node_id(end_entity, &self.cluster_id).map_err(refuse)?;
        let allowed = match &self.dialers {
            Dialers::Only(ids) => ids.contains(&named),
            Dialers::AnyNode => true,
            Dialers::Below(me) => named < *me,
        };
        if !allowed {
            return Err(refuse(IdentityError::NotADialer(named)));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
