//! Who a certificate speaks for. A node's certificate carries one DNS
//! subject alternative name, `node-<id>.<cluster-id>.synod`; the cluster's
//! CA is name-constrained to `<cluster-id>.synod`, so it cannot vouch for
//! anything else.

use rustls::pki_types::CertificateDer;
use synod_core::id::NodeId;

/// The suffix of every synod name.
pub const SUFFIX: &str = "synod";

/// Why a certificate does not name the expected node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate could not be parsed.
    #[error("certificate cannot be parsed")]
    Unparsable,
    /// The certificate names no node of this cluster.
    #[error("certificate names no node of cluster {0:?}")]
    NoIdentity(String),
    /// The certificate names several nodes (a wildcard or a list): refused.
    #[error("certificate names more than one node")]
    Ambiguous,
    /// The certificate is for another node than the one expected or claimed.
    #[error("certificate is for node {cert}, but the peer is (or claims to be) node {claimed}")]
    Mismatch {
        /// The node the certificate names.
        cert: NodeId,
        /// The node expected or claimed.
        claimed: NodeId,
    },
    /// The certificate is valid, but its node may not open connections to
    /// this one (not a configured peer, or one that waits to be dialed).
    #[error("node {0} may not connect to this node")]
    NotADialer(NodeId),
}

/// The domain a cluster's names live under: `<cluster-id>.synod`.
pub fn cluster_domain(cluster_id: &str) -> String {
    format!("{cluster_id}.{SUFFIX}")
}

/// The name node `id` of `cluster_id` carries: `node-<id>.<cluster-id>.synod`.
pub fn node_name(cluster_id: &str, id: NodeId) -> String {
    format!("node-{}.{}", id.0, cluster_domain(cluster_id))
}

/// Reads a node name of `cluster_id` back; `None` for any other name.
pub fn parse_node_name(cluster_id: &str, name: &str) -> Option<NodeId> {
    let rest = name.strip_prefix("node-")?;
    let (digits, domain) = rest.split_once('.')?;
    if domain != cluster_domain(cluster_id) || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros would give one node two names.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().map(NodeId)
}

/// The node of `cluster_id` that `cert` speaks for: exactly one DNS name
/// of the form [`node_name`] must be present. Chain validation is not done
/// here; callers check the CA first.
pub fn cert_node_id(cert: &CertificateDer<'_>, cluster_id: &str) -> Result<NodeId, IdentityError> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| IdentityError::Unparsable)?;
    let san = x509.subject_alternative_name().map_err(|_| IdentityError::Unparsable)?;
    let mut found = None;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        let x509_parser::extensions::GeneralName::DNSName(dns) = name else { continue };
        if dns.contains('*') {
            return Err(IdentityError::Ambiguous);
        }
        if let Some(id) = parse_node_name(cluster_id, dns) {
            match found {
                Some(other) if other != id => return Err(IdentityError::Ambiguous),
                _ => found = Some(id),
            }
        }
    }
    found.ok_or_else(|| IdentityError::NoIdentity(cluster_id.to_string()))
}

/// True if `cluster_id` can be part of a DNS name: 1 to 63 lowercase
/// letters, digits or `-`, neither first nor last a `-`.
pub fn valid_cluster_id(cluster_id: &str) -> bool {
    let b = cluster_id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        assert_eq!(node_name("blue", NodeId(7)), "node-7.blue.synod");
        assert_eq!(parse_node_name("blue", "node-7.blue.synod"), Some(NodeId(7)));
        for bad in [
            "node-7.green.synod",
            "node-.blue.synod",
            "node-07.blue.synod",
            "node-7x.blue.synod",
            "node-7.blue.synod.evil",
        ] {
            assert_eq!(parse_node_name("blue", bad), None, "{bad}");
        }
        assert!(valid_cluster_id("prod-eu-1"));
        for bad in ["", "-a", "a-", "Upper", "a.b", "a_b", &"x".repeat(64)] {
            assert!(!valid_cluster_id(bad), "{bad}");
        }
    }
}
