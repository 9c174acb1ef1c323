//! Who may talk to a node over QUIC: only certificates of the cluster CA,
//! only for the node they claim, only in the same cluster; and noise on
//! the port does no harm.

mod common;

use common::*;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::transport::Transport;
use synod_quic::certs;
use synod_quic::{QuicTransport, tls};

/// Nodes 2 and 3 of a three-node cluster (node 1's certificate is the one
/// rogues borrow), connected to each other.
async fn victims(ca: &certs::Ca) -> (Arc<QuicTransport>, Arc<QuicTransport>, BTreeMap<u64, SocketAddr>) {
    let (s1, a1) = reserve();
    drop(s1); // node 1 is not running: its address is only configured
    let (s2, a2) = reserve();
    let (s3, a3) = reserve();
    let peers = BTreeMap::from([(1, a1), (2, a2), (3, a3)]);
    let n2 = start(ca, 2, s2, &peers);
    let n3 = start(ca, 3, s3, &peers);
    exchange((2, &n2), (3, &n3), 0).await;
    (n2, n3, peers)
}

#[test]
fn a_certificate_from_another_ca_is_refused_both_ways() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let foreign = certs::new_cluster_ca(CLUSTER).unwrap(); // same cluster name, other key
        let (n2, n3, peers) = victims(&ca).await;

        // Clients with node-1 certificates of a foreign CA dialing node 3:
        // one of a CA with our cluster's name (its signature fails), one of
        // another cluster's CA (an unknown issuer).
        let other = certs::new_cluster_ca("other").unwrap();
        for (foreign_ca, why) in [(&foreign, "BadSignature"), (&other, "UnknownIssuer")] {
            let before = n3.stats().rejected;
            let rogue = rogue_endpoint();
            let cert = foreign_ca.issue_node(NodeId(1)).unwrap();
            let refused = match rogue_dial(&rogue, permissive_client(&cert), peers[&3], 3).await {
                Err(e) => e.to_string(),
                Ok(conn) => close_reason(&conn).await,
            };
            assert!(refused.contains("handshake failed"), "{refused}");
            eventually("node 3 counts the refusal", || n3.stats().rejected > before).await;
            let last = n3.stats().last_rejection.unwrap();
            assert!(last.contains("invalid peer certificate") && last.contains(why), "{last}");
        }

        // Node 1 (started now) dials node 2, but a server with a foreign
        // node-2 certificate sits at node 2's address.
        let (fake2, fake2_addr) = rogue_server(&foreign.issue_node(NodeId(2)).unwrap(), &[1], None);
        accept_handshakes(&fake2);
        let (s1, _) = reserve();
        let misled = BTreeMap::from([(1, peers[&1]), (2, fake2_addr), (3, peers[&3])]);
        let n1 = start(&ca, 1, s1, &misled);
        eventually("node 1 refuses the foreign node 2", || {
            n1.stats().last_rejection.is_some_and(|w| w.contains("node 2") && w.contains("invalid peer certificate"))
        })
        .await;
        assert!(!n1.is_connected(NodeId(2)));
        fake2.close(0u32.into(), b"done");

        // Nothing of that disturbed the real links.
        exchange((2, &n2), (3, &n3), 1).await;
    });
}

#[test]
fn a_valid_certificate_for_another_node_is_refused() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (n2, n3, peers) = victims(&ca).await;
        let rogue = rogue_endpoint();
        let cert1 = ca.issue_node(NodeId(1)).unwrap();

        // Node 1's certificate, claiming to be node 2 in the hello.
        let conn = rogue_dial(&rogue, tls::client_config(&cert1).unwrap(), peers[&3], 3).await.expect("TLS passes");
        assert_eq!(rogue_hello(&conn, CLUSTER, 2, 3).await, None, "no hello back");
        let why = close_reason(&conn).await;
        assert_eq!(why, "certificate is for node 1, but the peer is (or claims to be) node 2");
        eventually("node 3 records it", || n3.stats().last_rejection.is_some_and(|w| w.contains(&why))).await;

        // Node 3's own certificate may not dial node 2 (the lower id dials).
        let cert3 = ca.issue_node(NodeId(3)).unwrap();
        let refused = match rogue_dial(&rogue, tls::client_config(&cert3).unwrap(), peers[&2], 2).await {
            Err(e) => e.to_string(),
            Ok(conn) => close_reason(&conn).await,
        };
        assert!(!refused.is_empty());
        eventually("node 2 refuses node 3's certificate", || {
            n2.stats().last_rejection.is_some_and(|w| w.contains("node 3 may not connect to this node"))
        })
        .await;

        // A server with node 3's valid certificate where node 1 expects node 2.
        let (fake2, fake2_addr) = rogue_server(&cert3, &[1], None);
        accept_handshakes(&fake2);
        let (s1, _) = reserve();
        let misled = BTreeMap::from([(1, peers[&1]), (2, fake2_addr), (3, peers[&3])]);
        let n1 = start(&ca, 1, s1, &misled);
        eventually("node 1 refuses node 3's certificate at node 2's address", || {
            n1.stats().last_rejection.is_some_and(|w| w.contains("certificate is for node 3, but the peer is"))
        })
        .await;
        assert!(!n1.is_connected(NodeId(2)));
        fake2.close(0u32.into(), b"done");
        exchange((2, &n2), (3, &n3), 1).await;
    });
}

#[test]
fn a_wrong_cluster_id_is_refused_by_the_hello_with_a_clear_error() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (n2, n3, peers) = victims(&ca).await;

        // Accepting side: a valid certificate, a hello from another cluster.
        let rogue = rogue_endpoint();
        let cert1 = ca.issue_node(NodeId(1)).unwrap();
        let conn = rogue_dial(&rogue, tls::client_config(&cert1).unwrap(), peers[&3], 3).await.expect("TLS passes");
        assert_eq!(rogue_hello(&conn, "other", 1, 3).await, None);
        let expected = r#"cluster id mismatch: we are "sec", peer is "other""#;
        assert_eq!(close_reason(&conn).await, expected);
        assert!(n3.stats().last_rejection.is_some_and(|w| w.contains(expected)));

        // Dialing side: node 1 reaches a "node 2" that answers from another cluster.
        let (fake2, fake2_addr) = rogue_server(&ca.issue_node(NodeId(2)).unwrap(), &[1], None);
        let (s1, _) = reserve();
        let n1 = start(&ca, 1, s1, &BTreeMap::from([(1, peers[&1]), (2, fake2_addr), (3, peers[&3])]));
        let incoming = tokio::time::timeout(DEADLINE, fake2.accept()).await.unwrap().unwrap();
        let conn = incoming.await.expect("node 1's certificate is valid");
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let theirs = read_frame(&mut recv).await.unwrap();
        assert!(matches!(&theirs, synod_net::codec::Frame::Hello(h) if h.cluster_id == CLUSTER && h.from == NodeId(1)));
        let wrong = synod_net::codec::Frame::Hello(synod_net::codec::Hello {
            version: synod_net::codec::frame::VERSION,
            cluster_id: "other".into(),
            from: NodeId(2),
            to: Some(NodeId(1)),
        });
        let mut buf = bytes::BytesMut::new();
        synod_net::codec::FrameCodec::default().encode(&wrong, &mut buf).unwrap();
        send.write_all(&buf).await.unwrap();
        assert_eq!(close_reason(&conn).await, r#"cluster id mismatch: we are "sec", peer is "other""#);
        eventually("node 1 records the refusal", || {
            n1.stats().last_rejection.is_some_and(|w| w.contains(r#"we are "sec", peer is "other""#))
        })
        .await;
        assert!(!n1.is_connected(NodeId(2)));
        exchange((2, &n2), (3, &n3), 1).await;
    });
}

#[test]
fn noise_on_the_quic_port_does_no_harm() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (n2, n3, peers) = victims(&ca).await;
        let target = peers[&3];

        // UDP garbage: tiny, random, and shaped like a QUIC Initial.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = synod_core::rand::Rng::with_seed(11);
        for len in [1usize, 7, 64, 600, 1200, 1350] {
            let mut junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            udp.send_to(&junk, target).unwrap();
            if len >= 1200 {
                junk[0] = 0xc3; // long header, Initial
                junk[1..5].copy_from_slice(&1u32.to_be_bytes()); // QUIC v1
                udp.send_to(&junk, target).unwrap();
            }
        }
        // A plain TCP client on the same port number: nothing listens there.
        let tcp = tokio::net::TcpStream::connect(target).await;
        assert!(tcp.is_err(), "a QUIC node opens no TCP port");

        // A QUIC client with a valid certificate that never says hello is
        // dropped after the handshake timeout.
        let rogue = rogue_endpoint();
        let cert1 = ca.issue_node(NodeId(1)).unwrap();
        let conn = rogue_dial(&rogue, tls::client_config(&cert1).unwrap(), target, 3).await.expect("TLS passes");
        assert_eq!(close_reason(&conn).await, "no hello in time");

        // A hello that claims to be huge is refused before it is buffered.
        let conn = rogue_dial(&rogue, tls::client_config(&cert1).unwrap(), target, 3).await.expect("TLS passes");
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(&(1u32 << 20).to_le_bytes()).await.unwrap();
        assert_eq!(close_reason(&conn).await, "frame of 1048576 bytes exceeds the maximum of 256");

        // A client without a certificate at all.
        let err = match rogue_dial(&rogue, anonymous_client(&ca), target, 3).await {
            Err(e) => e.to_string(),
            Ok(conn) => close_reason(&conn).await,
        };
        assert!(!err.is_empty());
        eventually("node 3 refuses the anonymous client", || {
            n3.stats().last_rejection.is_some_and(|w| w.contains("peer sent no certificates"))
        })
        .await;

        // The node still serves its peer, and takes a fresh connection from
        // it after a restart.
        exchange((2, &n2), (3, &n3), 1).await;
        n2.close();
        drop(n2);
        let socket = rebind(peers[&2]).await;
        let n2 = start(&ca, 2, socket, &peers);
        exchange((2, &n2), (3, &n3), 2).await;
    });
}

fn anonymous_client(ca: &certs::Ca) -> quinn::ClientConfig {
    let provider = tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![tls::ALPN.to_vec()];
    quinn::ClientConfig::new(std::sync::Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(cfg).unwrap()))
}

/// Any lower-id node of the cluster CA completes TLS (a node added to the
/// configuration later must be able to dial), but only a configured peer
/// gets past the hello: a valid certificate of a node that is not a
/// member is refused with the reason, and the members' link carries on.
#[test]
fn a_valid_certificate_of_a_node_that_is_not_a_member_is_refused_at_the_hello() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (s5, a5) = reserve();
        let (s6, a6) = reserve();
        let peers = BTreeMap::from([(5, a5), (6, a6)]);
        let n5 = start(&ca, 5, s5, &peers);
        let n6 = start(&ca, 6, s6, &peers);
        exchange((5, &n5), (6, &n6), 0).await;

        let rogue = rogue_endpoint();
        let cert4 = ca.issue_node(NodeId(4)).unwrap();
        let conn = rogue_dial(&rogue, tls::client_config(&cert4).unwrap(), a6, 6).await.expect("TLS passes: 4 < 6");
        assert_eq!(rogue_hello(&conn, CLUSTER, 4, 6).await, None, "no hello back");
        let why = close_reason(&conn).await;
        assert!(why.contains("node 4 is not a configured peer"), "{why}");
        eventually("node 6 records it", || n6.stats().last_rejection.is_some_and(|w| w.contains(&why))).await;
        assert!(!n6.is_connected(NodeId(4)));
        exchange((5, &n5), (6, &n6), 1).await;
    });
}
