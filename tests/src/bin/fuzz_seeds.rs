//! Writes seed corpora for the fuzz targets from real traffic: frames a
//! three-node Raft cluster actually exchanged, and real handshakes.
//! `cargo run -p synod-tests --bin fuzz_seeds -- fuzz/corpus`

use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use synod_core::id::NodeId;
use synod_core::raft::{Config, Raft};
use synod_core::replica::{Membership, Output, Recovered, Replica};
use synod_core::time::{Duration, Instant};
use synod_net::codec::{Frame, FrameCodec, Hello, frame::VERSION};

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus dir");
    std::fs::write(dir.join(name), data).expect("write seed");
}

/// Frames from a short real run: elections, appends, heartbeats, acks.
fn traffic() -> Vec<Frame> {
    let voters = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).expect("voters");
    let mut nodes: Vec<Raft> = (1..=3)
        .map(|i| {
            Raft::new(Config::new(NodeId(i), i), Instant::ZERO, Recovered::default(), voters.clone()).expect("raft")
        })
        .collect();
    let mut frames = Vec::new();
    let mut out = Output::default();
    let mut now = Instant::ZERO;
    for round in 0..40u64 {
        now += Duration::from_millis(50);
        for n in nodes.iter_mut() {
            n.handle_timeout(now);
        }
        if round > 20 {
            for n in nodes.iter_mut() {
                let _ = n.propose(now, Bytes::from(format!("cmd {round}")));
            }
        }
        let mut inflight = Vec::new();
        for n in nodes.iter_mut() {
            n.poll_output(&mut out);
            if let Some(p) = out.persist.take() {
                n.handle_persisted(now, p.id);
            }
            n.poll_output(&mut out);
            out.persist = None;
            inflight.extend(out.messages.drain(..).map(|e| (n.id(), e)));
            out.clear();
        }
        for (from, env) in inflight {
            frames.push(Frame::Replica(env.msg.clone()));
            let _ = nodes[env.to.0 as usize - 1].handle_message(now, from, env.msg);
        }
    }
    frames
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let codec = FrameCodec::default();
    let frames = traffic();
    let mut kinds = std::collections::BTreeMap::new();
    for f in &frames {
        // One seed per message kind (and per entry count, for appends).
        let key = match f {
            Frame::Replica(synod_core::replica::Message::Raft(m)) => match &m.body {
                synod_core::raft::Body::Append(a) => format!("append-{}", a.entries.len().min(3)),
                b => format!("{b:?}").split(['(', ' ']).next().unwrap_or("").to_string(),
            },
            other => format!("{other:?}").split('(').next().unwrap_or("").to_string(),
        };
        kinds.entry(key).or_insert_with(|| f.clone());
    }
    for (i, f) in kinds.values().enumerate().take(24) {
        let mut b = BytesMut::new();
        codec.encode(f, &mut b).expect("encode");
        let mut seed = vec![7u8];
        seed.extend_from_slice(&b);
        write(&root.join("frame_stream"), &format!("traffic-{i:02}"), &seed);
    }
    let hellos = [
        Hello { version: VERSION, cluster_id: "fuzz-cluster".into(), from: NodeId(2), to: Some(NodeId(1)) },
        Hello { version: VERSION, cluster_id: "other".into(), from: NodeId(2), to: Some(NodeId(1)) },
        Hello { version: VERSION, cluster_id: "fuzz-cluster".into(), from: NodeId(3), to: None },
    ];
    for (i, h) in hellos.iter().enumerate() {
        let mut b = BytesMut::new();
        codec.encode(&Frame::Hello(h.clone()), &mut b).expect("encode");
        write(&root.join("handshake"), &format!("hello-{i}"), &b);
    }
    println!("{} distinct frames seeded into {}", kinds.len().min(24), root.display());
}
