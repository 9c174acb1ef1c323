//! A new cluster's certificate authority and its node certificates.
//!
//! ```
//! # fn demo(dir: &std::path::Path) -> Result<(), synod_tls::certs::CertError> {
//! use synod_core::id::NodeId;
//! use synod_tls::certs;
//!
//! let ca = certs::new_cluster_ca("prod")?;
//! ca.write_pem(dir)?; // ca.pem, ca.key (keep ca.key off the nodes)
//! for id in 1..=3 {
//!     ca.issue_node(NodeId(id))?.write_pem(dir)?; // node-<id>.pem, node-<id>.key
//! }
//! let node = certs::NodeCert::load(dir, NodeId(2))?;
//! assert_eq!(node.cluster_id(), "prod");
//! # Ok(()) }
//! # let dir = std::env::temp_dir().join(format!("synod-certs-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! # demo(&dir).unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! The CA is name-constrained to `<cluster-id>.synod`: even a leaked CA key
//! cannot vouch for another cluster's nodes.
//!
//! Certificates have a real lifetime: a node's [`NODE_VALIDITY`] (a year)
//! unless issued for another, the CA's [`CA_VALIDITY`] (ten years).
//! [`Ca::issue_node_for`] with [`NodeCert::replace_pem`] renews a node's
//! certificate in place (`synod certs renew`); a node loads it when it
//! next starts.

use crate::identity::{self, IdentityError};
use core::time::Duration;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, NameConstraints, PublicKeyData,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use synod_core::id::NodeId;

/// How long a node certificate is valid unless issued for another span.
pub const NODE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long a cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How far before its issue a certificate is already valid: peers' clocks
/// may be a little behind the issuer's.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Sets `p` valid from a little before now for `validity`.
fn valid_for(p: &mut CertificateParams, validity: Duration) -> Result<(), CertError> {
    let now = time::OffsetDateTime::now_utc();
    let span = |d: Duration| time::Duration::try_from(d).map_err(|_| CertError::Validity(d));
    p.not_before = now - span(BACKDATE)?;
    p.not_after = now.checked_add(span(validity)?).ok_or(CertError::Validity(validity))?;
    Ok(())
}

/// The CA certificate's file name.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file name.
pub const CA_KEY_FILE: &str = "ca.key";

/// Node `id`'s certificate file name.
pub fn node_cert_file(id: NodeId) -> String {
    format!("node-{}.pem", id.0)
}

/// Node `id`'s key file name.
pub fn node_key_file(id: NodeId) -> String {
    format!("node-{}.key", id.0)
}

/// Why certificates could not be made, written or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The cluster id cannot be part of a DNS name.
    #[error("cluster id {0:?} cannot name certificates: use 1-63 lowercase letters, digits or '-', not first or last")]
    ClusterId(String),
    /// rcgen refused to build a certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file is missing.
    #[error("{}: no such file", .0.display())]
    Missing(PathBuf),
    /// A file exists and would be overwritten.
    #[error("{}: already exists; refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A file holds no valid certificate or key.
    #[error("{}: not a valid {what}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// Why it does not.
        reason: String,
    },
    /// A validity period cannot be represented.
    #[error("a certificate cannot be valid for {0:?}")]
    Validity(Duration),
    /// A node certificate does not name the node it is filed under.
    #[error("{}: {source}", path.display())]
    Identity {
        /// The certificate file.
        path: PathBuf,
        /// The mismatch.
        source: IdentityError,
    },
}

/// A cluster's certificate authority: issues the node certificates.
pub struct Ca {
    cluster_id: String,
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl core::fmt::Debug for Ca {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ca").field("cluster_id", &self.cluster_id).finish_non_exhaustive()
    }
}

/// A new CA for `cluster_id`, with a fresh P-256 key.
pub fn new_cluster_ca(cluster_id: &str) -> Result<Ca, CertError> {
    if !identity::valid_cluster_id(cluster_id) {
        return Err(CertError::ClusterId(cluster_id.to_string()));
    }
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, "synod");
    p.distinguished_name.push(DnType::CommonName, format!("synod cluster {cluster_id} CA"));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName(identity::cluster_domain(cluster_id))],
        excluded_subtrees: Vec::new(),
    });
    valid_for(&mut p, CA_VALIDITY)?;
    let key = KeyPair::generate()?;
    let cert = p.self_signed(&key)?.der().clone();
    Ok(Ca { cluster_id: cluster_id.to_string(), cert, issuer: Issuer::new(p, key) })
}

impl Ca {
    /// The cluster this CA serves.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The CA certificate (DER), the trust anchor every node gets.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert)
    }

    /// A certificate for node `id`, valid as both client and server for
    /// [`NODE_VALIDITY`], with a fresh key.
    pub fn issue_node(&self, id: NodeId) -> Result<NodeCert, CertError> {
        self.issue_node_for(id, NODE_VALIDITY)
    }

    /// A certificate for node `id` valid for `validity` from now (and an
    /// hour before, for clocks a little behind), with a fresh key.
    pub fn issue_node_for(&self, id: NodeId, validity: Duration) -> Result<NodeCert, CertError> {
        let name = identity::node_name(&self.cluster_id, id);
        let mut p = CertificateParams::new(vec![name.clone()])?;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "synod");
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        valid_for(&mut p, validity)?;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?.der().clone();
        Ok(NodeCert {
            cluster_id: self.cluster_id.clone(),
            id,
            cert,
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            ca: self.cert.clone(),
        })
    }

    /// Writes `ca.pem` and `ca.key` (owner-only) into `dir`, creating it;
    /// never overwrites.
    pub fn write_pem(&self, dir: &Path) -> Result<(), CertError> {
        create_dir(dir)?;
        write_new(&dir.join(CA_CERT_FILE), &self.cert_pem(), false)?;
        write_new(&dir.join(CA_KEY_FILE), &self.issuer.key().serialize_pem(), true)
    }

    /// Reads a CA written by [`Ca::write_pem`]; the cluster id comes from
    /// the CA's name constraint.
    pub fn load(dir: &Path) -> Result<Ca, CertError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let cert = read_cert(&cert_path)?;
        let cluster_id = ca_cluster_id(&cert).map_err(|reason| invalid(&cert_path, "synod CA certificate", reason))?;
        let key_path = dir.join(CA_KEY_FILE);
        let key_pem = String::from_utf8(read(&key_path)?)
            .map_err(|_| invalid(&key_path, "private key", "not UTF-8 PEM".into()))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(&key_path, "private key", e.to_string()))?;
        if ca_public_key(&cert).as_deref() != Some(key.subject_public_key_info().as_slice()) {
            return Err(invalid(&key_path, "private key", format!("does not match {}", cert_path.display())));
        }
        let issuer =
            Issuer::from_ca_cert_der(&cert, key).map_err(|e| invalid(&cert_path, "CA certificate", e.to_string()))?;
        Ok(Ca { cluster_id, cert, issuer })
    }
}

/// A node's certificate, its key and the CA that signed it: everything a
/// node needs for mutual TLS.
pub struct NodeCert {
    cluster_id: String,
    id: NodeId,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    ca: CertificateDer<'static>,
}

impl Clone for NodeCert {
    fn clone(&self) -> Self {
        NodeCert {
            cluster_id: self.cluster_id.clone(),
            id: self.id,
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

impl core::fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeCert").field("cluster_id", &self.cluster_id).field("id", &self.id).finish_non_exhaustive()
    }
}

impl NodeCert {
    /// The cluster the certificate belongs to.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The node it names.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate (DER): the only trust anchor.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// The node's private key (DER).
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// Writes `ca.pem` (unless an identical one is there), `node-<id>.pem`
    /// and `node-<id>.key` (owner-only) into `dir`, creating it; never
    /// overwrites.
    pub fn write_pem(&self, dir: &Path) -> Result<(), CertError> {
        create_dir(dir)?;
        let ca_path = dir.join(CA_CERT_FILE);
        let ca_pem = pem("CERTIFICATE", &self.ca);
        match std::fs::read(&ca_path) {
            Ok(old) if old == ca_pem.as_bytes() => {}
            Ok(_) => return Err(CertError::Exists(ca_path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => write_new(&ca_path, &ca_pem, false)?,
            Err(source) => return Err(CertError::Io { path: ca_path, source }),
        }
        write_new(&dir.join(node_cert_file(self.id)), &pem("CERTIFICATE", &self.cert), false)?;
        write_new(&dir.join(node_key_file(self.id)), &pem("PRIVATE KEY", self.key.secret_pkcs8_der()), true)
    }

    /// When the certificate stops being valid.
    pub fn not_after(&self) -> SystemTime {
        not_after(&self.cert).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Writes `node-<id>.pem` and `node-<id>.key` into `dir` in place of
    /// the ones there (each through a temporary file and a rename, the key
    /// first): a certificate renewed under the same CA. `ca.pem` must
    /// already be this certificate's CA.
    pub fn replace_pem(&self, dir: &Path) -> Result<(), CertError> {
        let ca_path = dir.join(CA_CERT_FILE);
        if read(&ca_path)? != pem("CERTIFICATE", &self.ca).as_bytes() {
            return Err(invalid(&ca_path, "CA certificate", "not the CA that issued the renewed certificate".into()));
        }
        let key_pem = pem("PRIVATE KEY", self.key.secret_pkcs8_der());
        replace(&dir.join(node_key_file(self.id)), &key_pem, true)?;
        replace(&dir.join(node_cert_file(self.id)), &pem("CERTIFICATE", &self.cert), false)
    }

    /// Reads node `id`'s files from `dir` and checks them: the CA is a synod
    /// CA, it signed the certificate, the certificate names node `id`, and
    /// the key belongs to the certificate.
    pub fn load(dir: &Path, id: NodeId) -> Result<NodeCert, CertError> {
        let ca_path = dir.join(CA_CERT_FILE);
        let ca = read_cert(&ca_path)?;
        let cluster_id = ca_cluster_id(&ca).map_err(|reason| invalid(&ca_path, "synod CA certificate", reason))?;
        let cert_path = dir.join(node_cert_file(id));
        let cert = read_cert(&cert_path)?;
        let key_path = dir.join(node_key_file(id));
        let key = match PrivateKeyDer::from_pem_slice(&read(&key_path)?) {
            Ok(PrivateKeyDer::Pkcs8(k)) => k,
            Ok(_) => return Err(invalid(&key_path, "private key", "not PKCS#8".into())),
            Err(e) => return Err(invalid(&key_path, "private key", e.to_string())),
        };
        let node = NodeCert { cluster_id, id, cert, key, ca };
        crate::config::check(&node).map_err(|e| match e {
            crate::config::TlsError::Identity(source) => CertError::Identity { path: cert_path.clone(), source },
            crate::config::TlsError::KeyMismatch => {
                invalid(&key_path, "private key", format!("does not match {}", cert_path.display()))
            }
            other => invalid(&cert_path, "node certificate", other.to_string()),
        })?;
        Ok(node)
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der.to_vec()), config)
}

fn invalid(path: &Path, what: &'static str, reason: String) -> CertError {
    CertError::Invalid { path: path.to_path_buf(), what, reason }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CertError::Missing(path.to_path_buf()),
        _ => CertError::Io { path: path.to_path_buf(), source },
    })
}

fn read_cert(path: &Path) -> Result<CertificateDer<'static>, CertError> {
    CertificateDer::from_pem_slice(&read(path)?).map_err(|e| invalid(path, "PEM certificate", e.to_string()))
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io { path: dir.to_path_buf(), source })
}

fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), CertError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let io_err = |source: io::Error| match source.kind() {
        io::ErrorKind::AlreadyExists => CertError::Exists(path.to_path_buf()),
        _ => CertError::Io { path: path.to_path_buf(), source },
    };
    let mut f = opts.open(path).map_err(io_err)?;
    f.write_all(contents.as_bytes()).and_then(|()| f.sync_all()).map_err(io_err)
}

/// Writes `contents` to `path` through a temporary file and a rename.
fn replace(path: &Path, contents: &str, secret: bool) -> Result<(), CertError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let tmp = path.with_file_name(name);
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, contents, secret)?;
    std::fs::rename(&tmp, path).map_err(|source| CertError::Io { path: path.to_path_buf(), source })
}

fn not_after(cert: &CertificateDer<'_>) -> Option<SystemTime> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let secs = u64::try_from(x509.validity().not_after.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The cluster a synod CA serves, read from its name constraint.
fn ca_cluster_id(ca: &CertificateDer<'_>) -> Result<String, String> {
    let (_, x509) = x509_parser::parse_x509_certificate(ca.as_ref()).map_err(|e| e.to_string())?;
    if !x509.is_ca() {
        return Err("not a CA certificate".into());
    }
    let constraints = x509.name_constraints().map_err(|e| e.to_string())?.ok_or("no name constraint")?;
    let suffix = format!(".{}", identity::SUFFIX);
    for subtree in constraints.value.permitted_subtrees.iter().flatten() {
        if let x509_parser::extensions::GeneralName::DNSName(d) = subtree.base
            && let Some(cluster) = d.strip_suffix(&suffix)
            && identity::valid_cluster_id(cluster)
        {
            return Ok(cluster.to_string());
        }
    }
    Err("no <cluster-id>.synod name constraint".into())
}

fn ca_public_key(ca: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, x509) = x509_parser::parse_x509_certificate(ca.as_ref()).ok()?;
    Some(x509.public_key().raw.to_vec())
}
