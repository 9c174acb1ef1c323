//! Peers that must prove who they are, over real sockets against real
//! `synod node` processes: three members are configured, nodes 1 and 2
//! run (a quorum), and this test plays a rogue at node 3's place.
//!
//! - With the default transport (TCP with mutual TLS), a rogue without the
//!   cluster's certificates, with another CA's, or with node 3's but
//!   claiming node 2, never gets a hello back; a hello that declares a
//!   large frame is cut off before it is buffered.
//! - Behind the authentication, a member that forges (node 3's genuine
//!   certificate, or plain TCP with `--transport tcp-insecure`) cannot
//!   end every lease with a tick, move the cluster to the end of the term
//!   space, or answer another client's forwarded request.
//!
//! Every case fails on the main before issue 21; to see it, point
//! `SYNOD_BIN` at that build and set `SYNOD_INSECURE_FLAGS=` (it had no
//! `tcp-insecure`: plain TCP was its default).

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use synod_core::id::{NodeId, Term};
use synod_core::raft::{Body, HeartbeatResponse, Message as RaftMessage};
use synod_core::replica::Message;
use synod_core::service::{Command as StoreCommand, Op, Reply, StoreError};
use synod_net::client::{ClientReply, ClientRequest, RequestOp};
use synod_net::codec::{Frame, FrameCodec, Hello};
use synod_tls::certs::{self, NodeCert};

const CLUSTER: &str = "peers";

/// Nodes 1 and 2 of a three-member cluster, with node 3's peer port free
/// for the rogue to claim.
struct Pair {
    _procs: Vec<Proc>,
    peer: u16,
    resp: u16,
}

impl Pair {
    fn peer_port(&self, id: u64) -> u16 {
        self.peer + id as u16 - 1
    }

    fn resp_port(&self, id: u64) -> u16 {
        self.resp + id as u16 - 1
    }

    /// Starts nodes 1 and 2 with `flags` and waits for a leader.
    fn start(data: &Path, flags: &[String]) -> Pair {
        let peer = free_ports(3);
        let resp = free_ports(3);
        let members: Vec<String> = (1..=3u16).map(|i| format!("{i}=127.0.0.1:{}", peer + i - 1)).collect();
        let procs = (1..=2u16)
            .map(|i| {
                let child = Command::new(bin())
                    .args(["node", "--id", &i.to_string(), "--cluster-id", CLUSTER, "--members", &members.join(",")])
                    .args(["--resp", &format!("127.0.0.1:{}", resp + i - 1)])
                    .arg("--data-dir")
                    .arg(data.join(format!("node-{i}")))
                    .args(flags)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("synod node starts");
                Proc(child)
            })
            .collect();
        let pair = Pair { _procs: procs, peer, resp };
        let _: String = retry(pair.resp_port(1), redis::cmd("SET").arg("ready").arg("1"));
        pair
    }

    fn info(&self, id: u64, key: &str) -> String {
        let info: String = retry(self.resp_port(id), &redis::cmd("INFO"));
        info_field(&info, key).unwrap_or_default()
    }

    fn term(&self, id: u64) -> u64 {
        self.info(id, "term").parse().expect("a term in INFO")
    }

    fn leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for id in 1..=2 {
                if self.info(id, "role") == "master" {
                    return id;
                }
            }
            assert!(Instant::now() < deadline, "no leader");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn frame(f: &Frame) -> Vec<u8> {
    let mut b = BytesMut::new();
    FrameCodec::default().encode(f, &mut b).unwrap();
    b.to_vec()
}

fn hello(from: u64, to: u64) -> Vec<u8> {
    frame(&Frame::Hello(Hello {
        version: synod_net::codec::frame::VERSION,
        cluster_id: CLUSTER.into(),
        from: NodeId(from),
        to: Some(NodeId(to)),
    }))
}

/// What a node did with a connection.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered with its hello.
    Hello,
    /// Closed it.
    Closed,
    /// Neither, within the read timeout (shorter than the node's 5 s
    /// handshake timeout).
    Silent,
}

fn outcome(s: &mut impl Read) -> Outcome {
    let codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(f)) = codec.decode(&mut buf) {
            return if matches!(f, Frame::Hello(_)) { Outcome::Hello } else { Outcome::Silent };
        }
        match s.read(&mut chunk) {
            Ok(0) => return Outcome::Closed,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Outcome::Silent;
            }
            Err(_) => return Outcome::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads frames until a hello arrives (true) or the node ends the
/// connection or stays silent (false).
fn answered_with_hello(s: &mut impl Read) -> bool {
    outcome(s) == Outcome::Hello
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("peer port");
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

/// A TLS connection to node `to` as the holder of `cert`.
fn tls(port: u16, cert: &NodeCert, to: u64) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let cfg = synod_tls::config::client_config(cert, synod_tls::ALPN).unwrap();
    let name = synod_tls::identity::node_name(CLUSTER, NodeId(to)).try_into().unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    rustls::StreamOwned::new(conn, connect(port))
}

fn make_certs(dir: &Path) {
    let status = Command::new(bin())
        .args(["certs", "--cluster-id", CLUSTER, "--nodes", "1,2,3", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "synod certs");
}

/// Sends `frames` after a hello as node 3, each a few times.
fn forge(s: &mut impl Write, frames: &[Frame]) {
    for _ in 0..3 {
        for f in frames {
            let _ = s.write_all(&frame(f));
        }
    }
    let _ = s.flush();
}

fn far_term() -> Frame {
    Frame::Replica(Message::Raft(RaftMessage {
        term: Term(u64::MAX - 1),
        body: Body::HeartbeatResponse(HeartbeatResponse { read_round: 0 }),
    }))
}

fn tick_at_the_end_of_time() -> Frame {
    let tick = StoreCommand::new(Op::Tick { now: synod_core::time::Instant::from_nanos(u64::MAX) });
    Frame::Request(ClientRequest { id: 1, op: RequestOp::Propose(tick.encode()) })
}

#[test]
fn over_tls_only_the_node_a_certificate_names_gets_in() {
    let scratch = Scratch::new("peers-tls");
    let certs_dir = scratch.0.join("certs");
    make_certs(&certs_dir);
    let flags = vec!["--certs".to_string(), certs_dir.display().to_string()];
    let pair = Pair::start(&scratch.0, &flags);
    let port = pair.peer_port(1);

    // No certificate at all: a plain hello claiming node 3.
    let mut plain = connect(port);
    plain.write_all(&hello(3, 1)).unwrap();
    assert!(!answered_with_hello(&mut plain), "a plain-TCP hello was answered: peers are not authenticated");

    // A certificate of another CA for the same cluster name.
    let other = certs::new_cluster_ca(CLUSTER).unwrap().issue_node(NodeId(3)).unwrap();
    let mut s = tls(port, &other, 1);
    let _ = s.write_all(&hello(3, 1));
    assert!(!answered_with_hello(&mut s), "another CA's certificate was accepted");

    // Node 3's genuine certificate, claiming to be node 2.
    let three = NodeCert::load(&certs_dir, NodeId(3)).unwrap();
    let mut s = tls(port, &three, 1);
    s.write_all(&hello(2, 1)).unwrap();
    assert!(!answered_with_hello(&mut s), "node 3's certificate spoke as node 2");

    // Node 3 as itself, declaring a 64 MiB frame before any hello: cut
    // off, nothing buffered.
    let mut s = tls(port, &three, 1);
    s.write_all(&(64u32 << 20).to_le_bytes()).unwrap();
    let _ = s.write_all(&[0u8; 1024]);
    assert_eq!(outcome(&mut s), Outcome::Closed, "a 64 MiB hello was being read");

    // Node 3 as itself is a member (so the refusals above are not the
    // harness failing to connect at all) — and a forging member still
    // cannot move the cluster's term to the end of the term space.
    let term = pair.term(1);
    for id in 1..=2 {
        let mut s = tls(pair.peer_port(id), &three, id);
        s.write_all(&hello(3, id)).unwrap();
        assert!(answered_with_hello(&mut s), "node 3 with its own certificate is refused by node {id}");
        forge(&mut s, &[far_term()]);
    }
    std::thread::sleep(Duration::from_millis(500));
    for id in 1..=2 {
        assert!(pair.term(id) < term + 100, "node {id} took a forged term: {} (was {term})", pair.term(id));
    }
    let _: String = retry(pair.resp_port(pair.leader()), redis::cmd("SET").arg("after").arg("ok"));
}

#[test]
fn a_forged_tick_ends_no_lease_and_a_forged_term_moves_no_one() {
    let scratch = Scratch::new("peers-tick");
    let pair = Pair::start(&scratch.0, &insecure_flags());
    let leader = pair.leader();
    let _: String = retry(pair.resp_port(leader), redis::cmd("SET").arg("k").arg("v").arg("PX").arg(60_000));
    let term = pair.term(leader);

    for id in 1..=2 {
        let mut s = connect(pair.peer_port(id));
        s.write_all(&hello(3, id)).unwrap();
        assert!(answered_with_hello(&mut s), "the rogue is not even let in as node 3");
        forge(&mut s, &[tick_at_the_end_of_time(), far_term()]);
    }
    // Several service ticks (100 ms) later the key is still there: its TTL
    // is measured on the leader's clock, not a forged one.
    std::thread::sleep(Duration::from_millis(1500));
    let v: Option<String> = retry(pair.resp_port(leader), redis::cmd("GET").arg("k"));
    assert_eq!(v.as_deref(), Some("v"), "a forged tick expired a key with 60 s to live");
    let leader = pair.leader();
    let now = pair.term(leader);
    assert!(now < term + 100, "the cluster moved to a forged term: {now} (was {term})");
    let _: String = retry(pair.resp_port(leader), redis::cmd("SET").arg("after").arg("ok"));
    let _: i64 = retry(pair.resp_port(leader), redis::cmd("INCR").arg("n"));
}

#[test]
fn a_forged_reply_answers_no_forwarded_request() {
    let scratch = Scratch::new("peers-reply");
    let pair = Pair::start(&scratch.0, &insecure_flags());
    let follower = 3 - pair.leader();

    // The rogue, as node 3, answers every forwarding id the follower could
    // be waiting on, over and over (paced: this is about forgery, not a
    // flood), while a client writes through it.
    let mut s = connect(pair.peer_port(follower));
    s.write_all(&hello(3, follower)).unwrap();
    assert!(answered_with_hello(&mut s));
    let forged = Reply::Error(StoreError::InvalidTtl).encode();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let batch: Vec<u8> = (0..=256u64)
                .flat_map(|id| frame(&Frame::Reply(ClientReply { id, result: Ok(Bytes::clone(&forged)) })))
                .collect();
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(&batch).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let mut c = client(pair.resp_port(follower));
    let mut wrong = Vec::new();
    for i in 0..200 {
        match redis::cmd("SET").arg(format!("k{i}")).arg(i).query::<String>(&mut c) {
            Ok(ok) if ok == "OK" => {}
            other => wrong.push(format!("SET k{i}: {other:?}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = flood.join();
    assert!(wrong.is_empty(), "forged replies reached clients: {wrong:?}");
    for i in (0..200).step_by(37) {
        let v: Option<i64> = retry(pair.resp_port(follower), redis::cmd("GET").arg(format!("k{i}")));
        assert_eq!(v, Some(i));
    }
}

#[test]
fn plain_tcp_to_another_machine_needs_the_network_declared_trusted() {
    let scratch = Scratch::new("peers-refuse");
    let out = Command::new(bin())
        .args(["node", "--id", "1", "--members", "1=127.0.0.1:1,2=10.0.0.2:7001", "--transport", "tcp-insecure"])
        .arg("--data-dir")
        .arg(&scratch.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("10.0.0.2:7001") && err.contains("--trusted-network"), "{err}");

    let out = Command::new(bin())
        .args(["node", "--id", "1", "--members", "1=127.0.0.1:1,2=10.0.0.2:7001"])
        .arg("--data-dir")
        .arg(&scratch.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--certs") && err.contains("synod certs"), "{err}");
}
