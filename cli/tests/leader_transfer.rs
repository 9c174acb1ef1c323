//! `synod leader transfer` moves leadership on both protocols: the
//! command returns once the target leads, and the cluster keeps serving.

mod common;

use common::{Scratch, cluster_with, free_ports, insecure_flags, retry, synod};

fn leader(port: u16) -> u64 {
    let (ok, out) = synod(&["status", "--json", "--addr", &format!("127.0.0.1:{port}")]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["leader"].as_u64().unwrap_or(0)
}

fn transfers_leadership(protocol: &str) {
    let dir = Scratch::new(&format!("transfer-{protocol}"));
    let port = free_ports(3);
    let mut flags = insecure_flags();
    flags.extend(["--protocol".into(), protocol.into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _c = cluster_with(&dir.0, port, 3, &flags);
    let _: String = retry(port, redis::cmd("SET").arg("before").arg("1"));
    for round in 0..2 {
        let from = leader(port);
        assert!(from > 0, "a leader");
        let to = (1..=3).find(|id| *id != from).unwrap();
        let (ok, out) = synod(&["leader", "transfer", &to.to_string(), "--addr", &format!("127.0.0.1:{port}")]);
        assert!(ok, "round {round}, {from} to {to}: {out}");
        assert!(out.contains(&format!("node {to} leads")), "{out}");
        assert_eq!(leader(port), to);
        let key = format!("after{round}");
        let _: String = retry(port, redis::cmd("SET").arg(&key).arg("1"));
    }
    let mut c = common::client(port);
    for key in ["before", "after0", "after1"] {
        let v: Option<String> = redis::cmd("GET").arg(key).query(&mut c).unwrap();
        assert_eq!(v.as_deref(), Some("1"), "{key}");
    }
}

#[test]
fn leadership_moves_on_raft() {
    transfers_leadership("raft");
}

#[test]
fn leadership_moves_on_multi_paxos() {
    transfers_leadership("multi-paxos");
}
