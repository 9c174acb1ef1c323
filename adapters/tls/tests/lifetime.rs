//! Certificates have a real lifetime, and a node's can be renewed in place
//! under the same CA.

use core::time::Duration;
use std::time::SystemTime;
use synod_core::id::NodeId;
use synod_tls::certs::{self, NODE_VALIDITY, NodeCert};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn days_left(c: &NodeCert) -> u64 {
    c.not_after().duration_since(SystemTime::now()).unwrap_or_default().as_secs() / DAY.as_secs()
}

#[test]
fn a_node_certificate_lasts_a_year_and_renews_in_place() {
    let dir = std::env::temp_dir().join(format!("synod-tls-lifetime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ca = certs::new_cluster_ca("life").unwrap();
    ca.write_pem(&dir).unwrap();
    let first = ca.issue_node(NodeId(1)).unwrap();
    first.write_pem(&dir).unwrap();
    let loaded = NodeCert::load(&dir, NodeId(1)).unwrap();
    let year = NODE_VALIDITY.as_secs() / DAY.as_secs();
    assert!((year - 1..=year).contains(&days_left(&loaded)), "{} days", days_left(&loaded));

    // Renewed for 30 days under the same CA: the files are replaced, and
    // what loads is the new certificate with its new key.
    let renewed = ca.issue_node_for(NodeId(1), 30 * DAY).unwrap();
    renewed.replace_pem(&dir).unwrap();
    let loaded = NodeCert::load(&dir, NodeId(1)).unwrap();
    assert!((29..=30).contains(&days_left(&loaded)), "{} days", days_left(&loaded));
    assert_eq!(loaded.cert_der(), renewed.cert_der());
    assert_ne!(loaded.cert_der(), first.cert_der());

    // A certificate of another CA does not replace this one's.
    let other = certs::new_cluster_ca("life").unwrap().issue_node(NodeId(1)).unwrap();
    assert!(other.replace_pem(&dir).is_err());
    assert_eq!(NodeCert::load(&dir, NodeId(1)).unwrap().cert_der(), renewed.cert_der());
    std::fs::remove_dir_all(&dir).unwrap();
}
