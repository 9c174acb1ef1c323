//! Mutual TLS under the stream transport, on tokio TCP: members exchange
//! frames; a peer is who its certificate says, whatever its hello claims.

use bytes::{Bytes, BytesMut};
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_net::client::{ClientRequest, RequestOp};
use synod_net::codec::{Frame, FrameCodec, Hello};
use synod_net::stream::{StreamConfig, StreamTransport};
use synod_net::transport::Transport;
use synod_tls::TlsAuthenticator;
use synod_tls::certs::{self, Ca, NodeCert};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLUSTER: &str = "tls-stream";

async fn node(
    ca: &Ca,
    id: u64,
    listener: synod_tokio::TcpListener,
    peers: &BTreeMap<NodeId, String>,
) -> Arc<StreamTransport> {
    let cert = ca.issue_node(NodeId(id)).unwrap();
    let others: BTreeMap<NodeId, String> =
        peers.iter().filter(|(p, _)| p.0 != id).map(|(p, a)| (*p, a.clone())).collect();
    let auth = TlsAuthenticator::new(&cert, others.keys().copied().collect::<std::collections::BTreeSet<_>>()).unwrap();
    let mut cfg = StreamConfig::new(NodeId(id), CLUSTER, others);
    // Long, so that a connection cut at once is told apart from one left
    // to time out.
    cfg.handshake_timeout = synod_core::time::Duration::from_secs(30);
    cfg.backoff_max = synod_core::time::Duration::from_millis(100);
    synod_tokio::tcp_transport(cfg, listener, synod_tokio::TokioRuntime::current(), Arc::new(auth))
}

fn request(id: u64) -> Frame {
    Frame::Request(ClientRequest { id, op: RequestOp::Query(Bytes::from_static(b"q")) })
}

fn frame(f: &Frame) -> Vec<u8> {
    let mut b = BytesMut::new();
    FrameCodec::default().encode(f, &mut b).unwrap();
    b.to_vec()
}

/// A TLS client to `addr` holding `cert`, which dials node `to`.
async fn dial(
    addr: &str,
    cert: &NodeCert,
    to: u64,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let cfg = synod_tls::config::client_config(cert, synod_tls::ALPN).unwrap();
    let name = synod_tls::identity::node_name(CLUSTER, NodeId(to)).try_into().unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await
}

/// What a node did with a connection.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered with its hello.
    Hello,
    /// Closed it.
    Closed,
    /// Neither, within 5 s (the nodes' handshake timeout is 30 s).
    Silent,
}

async fn outcome(s: &mut (impl AsyncReadExt + Unpin)) -> Outcome {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            if let Ok(Some(f)) = FrameCodec::default().decode(&mut buf) {
                return if matches!(f, Frame::Hello(_)) { Outcome::Hello } else { Outcome::Silent };
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return Outcome::Closed,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.unwrap_or(Outcome::Silent)
}

async fn answered(s: &mut (impl AsyncReadExt + Unpin)) -> bool {
    outcome(s).await == Outcome::Hello
}

fn hello(from: u64, to: u64) -> Vec<u8> {
    frame(&Frame::Hello(Hello {
        version: synod_net::codec::frame::VERSION,
        cluster_id: CLUSTER.into(),
        from: NodeId(from),
        to: Some(NodeId(to)),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_talk_and_a_certificate_decides_who_a_peer_is() {
    let ca = certs::new_cluster_ca(CLUSTER).unwrap();
    let (l1, a1) = synod_tokio::bind("127.0.0.1:0").await.unwrap();
    let (l2, a2) = synod_tokio::bind("127.0.0.1:0").await.unwrap();
    let peers = BTreeMap::from([
        (NodeId(1), a1.to_string()),
        (NodeId(2), a2.to_string()),
        (NodeId(3), "127.0.0.1:9".to_string()),
    ]);
    let t1 = node(&ca, 1, l1, &peers).await;
    let t2 = node(&ca, 2, l2, &peers).await;

    // Members: node 1's frame reaches node 2, attributed to node 1.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let _ = t1.send(NodeId(2), request(7));
            if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(200), t2.recv()).await {
                return got;
            }
        }
    })
    .await
    .expect("members connect over TLS");
    assert_eq!(got, (NodeId(1), request(7)));

    // Node 3's genuine certificate, claiming node 1: refused after TLS.
    let three = ca.issue_node(NodeId(3)).unwrap();
    let before = t2.stats().rejected;
    let mut s = dial(&a2.to_string(), &three, 2).await.expect("TLS passes: the certificate is genuine");
    s.write_all(&hello(1, 2)).await.unwrap();
    s.write_all(&frame(&request(666))).await.unwrap();
    assert!(!answered(&mut s).await, "node 3 spoke as node 1");
    assert!(t2.stats().rejected > before, "the refusal is counted");

    // Node 3 as itself is let in, and its frames are its own.
    let mut s = dial(&a2.to_string(), &three, 2).await.unwrap();
    s.write_all(&hello(3, 2)).await.unwrap();
    assert!(answered(&mut s).await, "node 3 with its own certificate is refused");
    s.write_all(&frame(&request(9))).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match t2.recv().await {
                Some((from, f)) if f == request(9) => return from,
                Some(_) => {}
                None => panic!("transport closed"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, NodeId(3));
    assert_eq!(t2.stats().rejected, before + 1, "only the impostor was refused");

    // Another CA's certificate naming node 3: TLS itself fails.
    let other = certs::new_cluster_ca(CLUSTER).unwrap().issue_node(NodeId(3)).unwrap();
    let refused = match dial(&a2.to_string(), &other, 2).await {
        Err(_) => true,
        Ok(mut s) => {
            let _ = s.write_all(&hello(3, 2)).await;
            !answered(&mut s).await
        }
    };
    assert!(refused, "another CA's certificate was accepted");

    // Plain TCP: not even a hello back.
    let mut plain = tokio::net::TcpStream::connect(a2).await.unwrap();
    plain.write_all(&hello(3, 2)).await.unwrap();
    assert!(!answered(&mut plain).await, "a plain-TCP hello was answered");

    // Before its hello, a member may not declare a large frame: cut off at
    // once, not left to send 64 MiB.
    let mut s = dial(&a2.to_string(), &three, 2).await.unwrap();
    s.write_all(&(64u32 << 20).to_le_bytes()).await.unwrap();
    let _ = s.write_all(&[0u8; 4096]).await;
    assert_eq!(outcome(&mut s).await, Outcome::Closed, "a 64 MiB first frame was being read");

    t1.close();
    t2.close();
}

/// Nodes 1 and 2 on loopback, once a frame from 1 has reached 2.
async fn connected_pair() -> (Ca, BTreeMap<NodeId, String>, Arc<StreamTransport>, Arc<StreamTransport>) {
    let ca = certs::new_cluster_ca(CLUSTER).unwrap();
    let (l1, a1) = synod_tokio::bind("127.0.0.1:0").await.unwrap();
    let (l2, a2) = synod_tokio::bind("127.0.0.1:0").await.unwrap();
    let peers = BTreeMap::from([(NodeId(1), a1.to_string()), (NodeId(2), a2.to_string())]);
    let t1 = node(&ca, 1, l1, &peers).await;
    let t2 = node(&ca, 2, l2, &peers).await;
    connected(&t1, &t2).await;
    (ca, peers, t1, t2)
}

/// Waits until a frame from `t1` reaches `t2`.
async fn connected(t1: &StreamTransport, t2: &StreamTransport) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let _ = t1.send(NodeId(2), request(1));
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), t2.recv()).await {
                return;
            }
        }
    })
    .await
    .expect("members connect");
}

/// A peer whose process goes away is reported at once: the node takes
/// back the requests it forwarded there instead of waiting them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_goes_away_is_reported_lost() {
    let (_, _, t1, t2) = connected_pair().await;
    let early = tokio::time::timeout(Duration::from_millis(300), t1.lost()).await;
    assert!(early.is_err(), "nothing was lost yet: {early:?}");

    t2.close();
    drop(t2);
    let lost = tokio::time::timeout(Duration::from_secs(3), t1.lost()).await;
    assert_eq!(lost, Ok(Some(NodeId(2))), "the lost connection was not reported");
    t1.close();
    assert_eq!(t1.lost().await, None, "a closed transport reports nothing more");
}

/// A peer that stops and comes back on the same address: the first frame
/// sent to the new process arrives. The dialer watches its connection's
/// read half, so it sees the old process go and reconnects at once; it
/// used to find out only by writing into the dead connection, which the
/// kernel accepted and lost — a vote request lost so cost the cluster an
/// extra election timeout after a leader failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_frame_after_a_peer_restarts_is_not_lost() {
    let (ca, peers, t1, t2) = connected_pair().await;

    t2.close();
    drop(t2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let l2 = loop {
        match synod_tokio::bind(&peers[&NodeId(2)]).await {
            Ok((l, _)) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let t2 = node(&ca, 2, l2, &peers).await;
    // Node 1 has nothing to say meanwhile; its dialer reconnects within
    // its 100 ms backoff.
    tokio::time::sleep(Duration::from_millis(800)).await;
    t1.send(NodeId(2), request(2)).expect("queued");
    let got = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match t2.recv().await {
                Some((_, f)) if f == request(2) => return,
                Some(_) => {}
                None => panic!("transport closed"),
            }
        }
    })
    .await;
    assert!(got.is_ok(), "the frame sent once to the restarted peer was lost");
}

/// Frames and bytes are counted per peer on both sides, as the encoded
/// frames, for the node's metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_is_counted_per_peer_on_both_sides() {
    let (_, _, t1, t2) = connected_pair().await;
    let (before1, before2) = (t1.traffic(), t2.traffic());
    let sent_before = before1.iter().find(|t| t.peer == NodeId(2)).map_or(0, |t| t.frames_sent);
    let got_before = before2.iter().find(|t| t.peer == NodeId(1)).map_or(0, |t| t.frames_received);
    for id in 0..10 {
        t1.send(NodeId(2), request(100 + id)).unwrap();
    }
    let mut got = 0;
    while got < 10 {
        let (from, f) = tokio::time::timeout(Duration::from_secs(10), t2.recv()).await.unwrap().unwrap();
        if from == NodeId(1) && matches!(f, Frame::Request(ref r) if r.id >= 100) {
            got += 1;
        }
    }
    // The sender counts once the batch is written; give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = t1.traffic().into_iter().find(|t| t.peer == NodeId(2)).unwrap();
    let inn = t2.traffic().into_iter().find(|t| t.peer == NodeId(1)).unwrap();
    assert_eq!(out.frames_sent - sent_before, 10, "{out:?}");
    assert!(inn.frames_received - got_before >= 10, "{inn:?}");
    let one = frame(&request(100)).len() as u64;
    assert!(out.bytes_sent >= 10 * one, "{out:?}");
    assert_eq!(out.frames_sent, inn.frames_received, "every frame written was read: {out:?} {inn:?}");
    assert_eq!(out.bytes_sent, inn.bytes_received, "{out:?} {inn:?}");
}

/// Peers follow the configuration: a node of the CA that is not a
/// configured peer is refused after TLS (any node of the CA may complete
/// the handshake, `Dialers::AnyNode`); once `set_peers` names it, it is
/// admitted and dialed; a peer no longer named is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_set_follows_set_peers() {
    let ca = certs::new_cluster_ca(CLUSTER).unwrap();
    let mut addrs = BTreeMap::new();
    let mut listeners = Vec::new();
    for id in 1..=3u64 {
        let (l, a) = synod_tokio::bind("127.0.0.1:0").await.unwrap();
        addrs.insert(NodeId(id), a.to_string());
        listeners.push(l);
    }
    let only = |ids: &[u64]| -> BTreeMap<NodeId, String> {
        ids.iter().map(|i| (NodeId(*i), addrs[&NodeId(*i)].clone())).collect()
    };
    let mut ts = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let cert = ca.issue_node(NodeId(id)).unwrap();
        let auth = TlsAuthenticator::new(&cert, synod_tls::Dialers::AnyNode).unwrap();
        let peers = if id == 3 { only(&[2]) } else { only(&[1, 2]) };
        let mut cfg = StreamConfig::new(NodeId(id), CLUSTER, peers);
        cfg.backoff_max = synod_core::time::Duration::from_millis(50);
        ts.push(synod_tokio::tcp_transport(cfg, l, synod_tokio::TokioRuntime::current(), Arc::new(auth)));
    }
    let (t1, t2, t3) = (&ts[0], &ts[1], &ts[2]);
    connected(t1, t2).await;

    // Node 3 dials node 2, which does not know it: refused after TLS.
    let before = t2.stats().rejected;
    let arrived = |t: Arc<StreamTransport>, from: NodeId| async move {
        tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match t.recv().await {
                    Some((f, _)) if f == from => return,
                    Some(_) => {}
                    None => core::future::pending::<()>().await,
                }
            }
        })
        .await
        .is_ok()
    };
    let _ = t3.send(NodeId(2), request(3));
    assert!(!arrived(t2.clone(), NodeId(3)).await, "an unconfigured node's frame was delivered");
    assert!(t2.stats().rejected > before, "the unknown peer is refused and counted");
    assert_eq!(t3.send(NodeId(1), request(3)), Err(synod_net::transport::SendError::UnknownPeer(NodeId(1))));

    // Node 2 now serves 1 and 3; node 3 gets through.
    t2.set_peers(&only(&[1, 3])).unwrap();
    let t2c = t2.clone();
    let t3c = t3.clone();
    let pump = tokio::spawn(async move {
        loop {
            let _ = t3c.send(NodeId(2), request(4));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(arrived(t2c, NodeId(3)).await, "a peer added at runtime was not admitted");
    pump.abort();

    // Node 2 drops node 1: node 1's connection is cut, its frames lost.
    t2.set_peers(&only(&[3])).unwrap();
    assert_eq!(t2.send(NodeId(1), request(5)), Err(synod_net::transport::SendError::UnknownPeer(NodeId(1))));
    tokio::time::sleep(Duration::from_millis(200)).await;
    while tokio::time::timeout(Duration::from_millis(50), t2.recv()).await.is_ok() {}
    let t1c = t1.clone();
    let pump = tokio::spawn(async move {
        loop {
            let _ = t1c.send(NodeId(2), request(6));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(!arrived(t2.clone(), NodeId(1)).await, "a removed peer's frames were still delivered");
    pump.abort();
    for t in &ts {
        t.close();
    }
}
