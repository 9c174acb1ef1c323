//! Cluster CA and node certificates: written, read back, and every broken
//! or mismatched file named in a clear error.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use synod_core::id::NodeId;
use synod_quic::certs::{self, Ca, CertError, NodeCert};
use synod_quic::identity::IdentityError;
use synod_quic::{QuicConfig, QuicError, QuicTransport};

/// A fresh directory, removed afterwards.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("synod-quic-certs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cluster(dir: &Dir, ids: impl IntoIterator<Item = u64>) -> Ca {
    let ca = certs::new_cluster_ca(CLUSTER).unwrap();
    ca.write_pem(dir.path()).unwrap();
    for id in ids {
        ca.issue_node(NodeId(id)).unwrap().write_pem(dir.path()).unwrap();
    }
    ca
}

#[test]
fn certificates_written_and_loaded_connect_two_nodes() {
    let dir = Dir::new("roundtrip");
    let ca = cluster(&dir, [1, 2]);
    let n1 = NodeCert::load(dir.path(), NodeId(1)).unwrap();
    assert_eq!((n1.cluster_id(), n1.id()), (CLUSTER, NodeId(1)));
    assert_eq!(n1.ca_der(), ca.cert_der());

    // A reloaded CA issues certificates that chain to the original.
    let reloaded = Ca::load(dir.path()).unwrap();
    assert_eq!(reloaded.cluster_id(), CLUSTER);
    assert_eq!(reloaded.cert_der(), ca.cert_der());
    reloaded.issue_node(NodeId(3)).unwrap().write_pem(dir.path()).unwrap();
    assert_eq!(NodeCert::load(dir.path(), NodeId(3)).unwrap().id(), NodeId(3));

    #[cfg(unix)]
    for key in [certs::CA_KEY_FILE.to_string(), certs::node_key_file(NodeId(1))] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.file(&key)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{key} is readable by others");
    }

    runtime().block_on(async {
        let (s1, a1) = reserve();
        let (s2, a2) = reserve();
        let peers = BTreeMap::from([(1, a1), (2, a2)]);
        let n2 = NodeCert::load(dir.path(), NodeId(2)).unwrap();
        let t1 = QuicTransport::start(config(1, &peers), &n1, s1).unwrap();
        let t2 = QuicTransport::start(config(2, &peers), &n2, s2).unwrap();
        exchange((1, &t1), (2, &t2), 1).await;
    });
}

#[test]
fn missing_and_garbled_files_are_named() {
    let dir = Dir::new("broken");
    std::fs::create_dir_all(dir.path()).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(1)).unwrap_err();
    assert!(matches!(&e, CertError::Missing(p) if p.ends_with("ca.pem")), "{e}");
    assert!(e.to_string().ends_with("ca.pem: no such file"), "{e}");

    cluster(&dir, [1]);
    let e = NodeCert::load(dir.path(), NodeId(2)).unwrap_err();
    assert!(matches!(&e, CertError::Missing(p) if p.ends_with("node-2.pem")), "{e}");

    std::fs::write(dir.file("node-2.pem"), "not a certificate").unwrap();
    std::fs::copy(dir.file("node-1.key"), dir.file("node-2.key")).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(2)).unwrap_err();
    assert!(matches!(&e, CertError::Invalid { what: "PEM certificate", .. }), "{e}");

    std::fs::write(dir.file(certs::CA_KEY_FILE), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let e = Ca::load(dir.path()).unwrap_err();
    assert!(matches!(&e, CertError::Invalid { what: "private key", .. }), "{e}");
}

#[test]
fn mismatched_keys_identities_and_cas_are_refused() {
    let dir = Dir::new("mismatch");
    cluster(&dir, [1, 2]);

    // Node 1's certificate with node 2's key.
    std::fs::copy(dir.file("node-2.key"), dir.file("node-1.key.swap")).unwrap();
    std::fs::rename(dir.file("node-1.key.swap"), dir.file("node-1.key")).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(1)).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");

    // Node 2's files filed as node 5.
    std::fs::copy(dir.file("node-2.pem"), dir.file("node-5.pem")).unwrap();
    std::fs::copy(dir.file("node-2.key"), dir.file("node-5.key")).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(5)).unwrap_err();
    assert!(
        matches!(
            &e,
            CertError::Identity { source: IdentityError::Mismatch { cert: NodeId(2), claimed: NodeId(5) }, .. }
        ),
        "{e}"
    );

    // A node certificate of another CA next to this cluster's ca.pem.
    let foreign = certs::new_cluster_ca(CLUSTER).unwrap().issue_node(NodeId(6)).unwrap();
    let other = Dir::new("mismatch-foreign");
    foreign.write_pem(other.path()).unwrap();
    std::fs::copy(other.file("node-6.pem"), dir.file("node-6.pem")).unwrap();
    std::fs::copy(other.file("node-6.key"), dir.file("node-6.key")).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(6)).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "node-6.pem: not a valid node certificate: the certificate is not valid under the cluster CA: BadSignature"
        ),
        "{e}"
    );
    // ... and writing it into this cluster's directory is refused outright.
    let e = foreign.write_pem(dir.path()).unwrap_err();
    assert!(matches!(&e, CertError::Exists(p) if p.ends_with("ca.pem")), "{e}");

    // A transport refuses certificates that disagree with its configuration.
    let n2 = NodeCert::load(dir.path(), NodeId(2)).unwrap();
    let (s, _) = reserve();
    let e = QuicTransport::start(QuicConfig::new(NodeId(3), CLUSTER, BTreeMap::new()), &n2, s).err().unwrap();
    assert!(matches!(e, QuicError::NodeMismatch { config: NodeId(3), cert: NodeId(2) }), "{e}");
    let (s, _) = reserve();
    let e = QuicTransport::start(QuicConfig::new(NodeId(2), "other", BTreeMap::new()), &n2, s).err().unwrap();
    assert_eq!(e.to_string(), r#"the certificates are for cluster "sec", the configuration says "other""#);
}

#[test]
fn nothing_is_overwritten_and_cluster_ids_must_be_dns_labels() {
    let dir = Dir::new("overwrite");
    let ca = cluster(&dir, [1]);
    let e = ca.write_pem(dir.path()).unwrap_err();
    assert!(matches!(&e, CertError::Exists(p) if p.ends_with("ca.pem")), "{e}");
    assert!(e.to_string().contains("refusing to overwrite"));
    let e = ca.issue_node(NodeId(1)).unwrap().write_pem(dir.path()).unwrap_err();
    assert!(matches!(&e, CertError::Exists(p) if p.ends_with("node-1.pem")), "{e}");
    for bad in ["", "Prod", "a.b", "-x", "under_score"] {
        assert!(matches!(certs::new_cluster_ca(bad), Err(CertError::ClusterId(_))), "{bad:?}");
    }
}

#[test]
fn the_ca_cannot_vouch_for_another_clusters_names() {
    // Sign, with this cluster's CA key, a certificate that also names a
    // node of another cluster: the CA's name constraint voids it.
    let dir = Dir::new("constraint");
    cluster(&dir, []);
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.file(certs::CA_KEY_FILE)).unwrap()).unwrap();
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&std::fs::read_to_string(dir.file(certs::CA_CERT_FILE)).unwrap(), key).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["node-1.sec.synod".into(), "node-1.other.synod".into()]).unwrap();
    p.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let node_key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&node_key, &issuer).unwrap();
    std::fs::write(dir.file("node-1.pem"), cert.pem()).unwrap();
    std::fs::write(dir.file("node-1.key"), node_key.serialize_pem()).unwrap();
    let e = NodeCert::load(dir.path(), NodeId(1)).unwrap_err();
    assert!(e.to_string().contains("NameConstraint"), "{e}");
}
