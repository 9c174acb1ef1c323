//! The stream per message class: every class gets through, a stalled
//! snapshot does not hold up heartbeats, and a peer that sends a bad or
//! oversized frame is cut off while the node keeps serving.

mod common;

use bytes::BufMut;
use common::*;
use std::collections::BTreeMap;
use synod_core::id::NodeId;
use synod_net::codec::Frame;
use synod_net::transport::Transport;
use synod_quic::{Class, QuicTransport, certs, tls};

#[test]
fn every_class_arrives_over_one_connection_per_pair() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (s1, a1) = reserve();
        let (s2, a2) = reserve();
        let peers = BTreeMap::from([(1, a1), (2, a2)]);
        let n1 = start(&ca, 1, s1, &peers);
        let n2 = start(&ca, 2, s2, &peers);
        let frames = [heartbeat(1), append(), snapshot(300_000), request(9)];
        for f in &frames {
            n1.send(NodeId(2), f.clone()).unwrap();
            n2.send(NodeId(1), f.clone()).unwrap();
        }
        for (to, from) in [(&n2, 1), (&n1, 2)] {
            let mut got = Vec::new();
            for _ in 0..frames.len() {
                let (peer, f) = recv(to).await;
                assert_eq!(peer, NodeId(from));
                got.push(f);
            }
            got.sort_by_key(Class::of);
            assert_eq!(got, frames);
        }
        // Node 1 dialed, node 2 accepted: one connection, counted once each.
        assert_eq!(n1.stats().connects, 1);
        assert_eq!(n2.stats().connects, 1);
        assert_eq!(n1.stats().rejected + n2.stats().rejected, 0);
        // Frames and bytes are counted per peer on both sides, as encoded
        // (the sender counts once a batch is written).
        let of = |t: &QuicTransport, peer| t.traffic().into_iter().find(|c| c.peer == NodeId(peer)).unwrap();
        eventually("the sends counted", || of(&n1, 2).frames_sent == 4 && of(&n2, 1).frames_sent == 4).await;
        for (a, b, peer_of_a, peer_of_b) in [(&n1, &n2, 2, 1), (&n2, &n1, 1, 2)] {
            let (out, inn) = (of(a, peer_of_a), of(b, peer_of_b));
            assert_eq!((out.frames_sent, inn.frames_received), (4, 4), "{out:?} {inn:?}");
            assert_eq!(out.bytes_sent, inn.bytes_received, "{out:?} {inn:?}");
            assert!(out.bytes_sent > 300_000, "the snapshot's bytes count: {out:?}");
        }
    });
}

#[test]
fn a_stalled_snapshot_does_not_hold_up_heartbeats() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        // "Node 2" reads every stream but the snapshot one, whose window
        // (16 KiB) a 1 MiB chunk then fills for good.
        let (peer2, a2) = rogue_server(&ca.issue_node(NodeId(2)).unwrap(), &[1], Some(16 * 1024));
        let (s1, a1) = reserve();
        let n1 = start(&ca, 1, s1, &BTreeMap::from([(1, a1), (2, a2)]));

        let conn = tokio::time::timeout(DEADLINE, peer2.accept()).await.unwrap().unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        assert!(matches!(read_frame(&mut recv).await, Some(Frame::Hello(_))));
        let mut buf = bytes::BytesMut::new();
        let ours = hello_frame(2, 1);
        synod_net::codec::FrameCodec::default().encode(&ours, &mut buf).unwrap();
        send.write_all(&buf).await.unwrap();
        eventually("node 1 connected", || n1.is_connected(NodeId(2))).await;

        n1.send(NodeId(2), snapshot(1 << 20)).unwrap();
        let mut stalled = tokio::time::timeout(DEADLINE, conn.accept_uni()).await.unwrap().unwrap();
        let mut tag = [0u8];
        stalled.read_exact(&mut tag).await.unwrap();
        assert_eq!(tag[0], Class::Snapshot.tag());
        // The snapshot is now stuck behind flow control; control still flows.
        for round in 1..=3 {
            n1.send(NodeId(2), heartbeat(round)).unwrap();
        }
        let mut control = tokio::time::timeout(DEADLINE, conn.accept_uni()).await.unwrap().unwrap();
        control.read_exact(&mut tag).await.unwrap();
        assert_eq!(tag[0], Class::Control.tag());
        let got = tokio::time::timeout(DEADLINE, read_frames(&mut control, 3)).await.unwrap();
        assert_eq!(got, vec![heartbeat(1), heartbeat(2), heartbeat(3)]);
        assert!(n1.is_connected(NodeId(2)), "the stalled stream cost nothing but itself");
        drop(stalled);
    });
}

fn hello_frame(from: u64, to: u64) -> Frame {
    Frame::Hello(synod_net::codec::Hello {
        version: synod_net::codec::frame::VERSION,
        cluster_id: CLUSTER.into(),
        from: NodeId(from),
        to: Some(NodeId(to)),
    })
}

/// Node 1's certificate, an honest hello to node 3, then `bytes` on a new
/// stream: returns why node 3 cut the connection.
async fn misbehave(ca: &certs::Ca, target: core::net::SocketAddr, bytes: &[u8]) -> String {
    let rogue = rogue_endpoint();
    let cert1 = ca.issue_node(NodeId(1)).unwrap();
    let conn = rogue_dial(&rogue, tls::client_config(&cert1).unwrap(), target, 3).await.expect("TLS passes");
    let answer = rogue_hello(&conn, CLUSTER, 1, 3).await.expect("node 3 answers an honest hello");
    assert_eq!(answer.from, NodeId(3));
    let mut s = conn.open_uni().await.unwrap();
    s.write_all(bytes).await.unwrap();
    close_reason(&conn).await
}

#[test]
fn a_misbehaving_peer_is_cut_off_and_the_node_keeps_serving() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (_, a1) = reserve();
        let (s2, a2) = reserve();
        let (s3, a3) = reserve();
        let peers = BTreeMap::from([(1, a1), (2, a2), (3, a3)]);
        let n2 = start(&ca, 2, s2, &peers);
        let n3 = start(&ca, 3, s3, &peers);
        exchange((2, &n2), (3, &n3), 0).await;

        let control = Class::Control.tag();
        let mut oversize = vec![control];
        oversize.put_u32_le(100 << 20); // over the 64 MiB limit
        let mut bad_kind = vec![control];
        bad_kind.put_u32_le(3);
        bad_kind.extend_from_slice(&[synod_net::codec::frame::VERSION, 99, 0]);
        let mut second_hello = vec![control];
        let mut buf = bytes::BytesMut::new();
        synod_net::codec::FrameCodec::default().encode(&hello_frame(1, 3), &mut buf).unwrap();
        second_hello.extend_from_slice(&buf);

        let cases: [(&[u8], &str); 4] = [
            (&oversize, "frame of 104857600 bytes exceeds the maximum of 67108864"),
            (&bad_kind, "unknown frame kind tag"),
            (&second_hello, "a second hello after the handshake"),
            (&[42], "unknown stream class 42"),
        ];
        for (round, (bytes, why)) in (1..).zip(cases) {
            let before = n3.stats().rejected;
            assert_eq!(misbehave(&ca, a3, bytes).await, why);
            assert_eq!(n3.stats().rejected, before + 1);
            assert!(n3.stats().last_rejection.is_some_and(|w| w == format!("node 1: {why}")));
            // Node 3 goes on serving node 2.
            exchange((2, &n2), (3, &n3), round).await;
        }
    });
}

#[test]
fn a_crashed_and_restarted_peer_is_reconnected_before_the_idle_timeout() {
    let main = runtime();
    let ca = certs::new_cluster_ca(CLUSTER).unwrap();
    let (s1, a1) = reserve();
    let (s2, a2) = reserve();
    let peers = BTreeMap::from([(1, a1), (2, a2)]);
    // A minute of idle timeout: the reconnection must not wait for it.
    let patient = |id| {
        let mut cfg = config(id, &peers);
        cfg.idle_timeout = core::time::Duration::from_secs(60);
        cfg
    };
    let node2 = ca.issue_node(NodeId(2)).unwrap();
    let n1 = main.block_on(async {
        synod_quic::QuicTransport::start(patient(1), &ca.issue_node(NodeId(1)).unwrap(), s1).unwrap()
    });

    // Node 2 runs on its own runtime, which is then dropped mid-flight:
    // no close frame ever leaves it, as in a crash.
    let doomed = runtime();
    let n2 = doomed.block_on(async { synod_quic::QuicTransport::start(patient(2), &node2, s2).unwrap() });
    main.block_on(async {
        n1.send(NodeId(2), heartbeat(1)).unwrap();
        eventually("node 1 connected", || n1.is_connected(NodeId(2))).await;
    });
    doomed.shutdown_background();
    drop(n2);

    main.block_on(async {
        let socket = rebind(a2).await;
        let n2 = synod_quic::QuicTransport::start(patient(2), &node2, socket).unwrap();
        // Node 1's old connection ends on the restarted node's stateless
        // reset; it redials, and node 2 (which never dials node 1) is heard.
        n2.send(NodeId(1), heartbeat(2)).unwrap();
        assert_eq!(recv(&n1).await, (NodeId(2), heartbeat(2)));
    });
}

/// A peer whose process closes its connection is reported at once, so the
/// node takes back what it forwarded there instead of waiting it out.
#[test]
fn a_peer_that_goes_away_is_reported_lost() {
    runtime().block_on(async {
        let ca = certs::new_cluster_ca(CLUSTER).unwrap();
        let (s1, a1) = reserve();
        let (s2, a2) = reserve();
        let peers = BTreeMap::from([(1, a1), (2, a2)]);
        let n1 = start(&ca, 1, s1, &peers);
        let n2 = start(&ca, 2, s2, &peers);
        n1.send(NodeId(2), heartbeat(1)).unwrap();
        assert_eq!(recv(&n2).await, (NodeId(1), heartbeat(1)));
        let early = tokio::time::timeout(core::time::Duration::from_millis(300), n1.lost()).await;
        assert!(early.is_err(), "nothing was lost yet: {early:?}");

        n2.close();
        let lost = tokio::time::timeout(core::time::Duration::from_secs(3), n1.lost()).await;
        assert_eq!(lost, Ok(Some(NodeId(2))), "the lost connection was not reported");
        n1.close();
        assert_eq!(n1.lost().await, None, "a closed transport reports nothing more");
    });
}
