//! `synod recover`: two of three voters die for good while a client
//! writes; the survivor (the leader) alone can commit nothing. Recovered
//! into a one-voter cluster it serves every acknowledged write, takes new
//! ones, and grows back to three voters with `synod member add` / `promote`.

mod common;

use common::{Proc, Raw, Scratch, bin, free_ports, insecure_flags, synod, text};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn node(id: u64, cluster: &str, members: &str, data: &std::path::Path, resp: u16, extra: &[&str]) -> Proc {
    let child = Command::new(bin())
        .args(["node", "--id", &id.to_string(), "--cluster-id", cluster, "--members", members])
        .args(["--resp", &format!("127.0.0.1:{resp}")])
        .arg("--data-dir")
        .arg(data)
        .args(insecure_flags())
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("synod starts");
    Proc(child)
}

/// The leader's id, as node `resp` sees it, once there is one.
fn leader(resp: u16) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = Raw::connect(resp).text(&[b"SYNOD.STATUS"]);
        let doc: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
        if let Some(l) = doc["leader"].as_u64() {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_survivor_recovers_a_cluster_that_lost_its_majority_with_every_acknowledged_write() {
    recover_and_grow_back("raft");
}

#[test]
fn a_multi_paxos_survivor_recovers_and_grows_back() {
    recover_and_grow_back("multi-paxos");
}

fn recover_and_grow_back(protocol: &str) {
    let dir = Scratch::new(&format!("recover-{protocol}"));
    let proto = ["--protocol", protocol];
    let base = free_ports(8);
    let peer = |id: u64| base + id as u16 - 1;
    let resp = |id: u64| base + 4 + id as u16 - 1;
    let members = (1..=3).map(|i| format!("{i}=127.0.0.1:{}", peer(i))).collect::<Vec<_>>().join(",");
    let data = |id: u64| dir.0.join(format!("node-{id}"));
    let mut nodes: Vec<Proc> = (1..=3).map(|i| node(i, "old", &members, &data(i), resp(i), &proto)).collect();
    let l = leader(resp(1));
    // A configuration change, so the log holds configuration entries
    // naming the old members (the founding one is not logged): a learner
    // that never runs, as a machine being provisioned when disaster struck.
    let (ok, out) = synod(&["member", "add", "9", "127.0.0.1:9", "--addr", &format!("127.0.0.1:{}", resp(1))]);
    assert!(ok, "add: {out}");

    // A client writes through the leader until it stops answering.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let port = resp(l);
        std::thread::spawn(move || {
            let mut c = Raw::connect(port);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("k{i}");
                // The node is killed under it: no reply ends the writing.
                let Some(reply) = c.command(&[b"SET", k.as_bytes(), b"v"]).ok().and_then(|()| c.reply()) else {
                    break;
                };
                if text(&reply) == "OK" {
                    acked.lock().unwrap().push(k);
                }
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    for id in (1..=3).filter(|i| *i != l) {
        nodes[id as usize - 1].kill();
    }
    // The survivor alone commits nothing more.
    std::thread::sleep(Duration::from_millis(1500));
    let refused = Raw::connect(resp(l)).text(&[b"SET", b"alone", b"x"]);
    assert_ne!(refused, "OK", "a third of the cluster committed a write");
    stop.store(true, Ordering::Relaxed);
    nodes[l as usize - 1].kill();
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "the writer got few writes through: {}", acked.len());

    let new = dir.0.join("recovered");
    let address = format!("127.0.0.1:{}", peer(l));
    let id = l.to_string();
    let recover = |into: &std::path::Path| {
        synod(&[
            "recover",
            "--from",
            data(l).to_str().unwrap(),
            "--data-dir",
            into.to_str().unwrap(),
            "--id",
            &id,
            "--address",
            &address,
            "--from-cluster-id",
            "old",
            "--cluster-id",
            "new",
        ])
    };
    let (ok, out) = recover(&new);
    assert!(ok, "recover: {out}");
    let (ok, out) = recover(&new);
    assert!(!ok && out.contains("is not empty"), "recovering over a directory: {out}");

    let _one = node(l, "new", &format!("{l}={address}"), &new, resp(l), &proto);
    let mut c = Raw::connect(resp(l));
    for k in &acked {
        assert_eq!(c.settled(&[b"GET", k.as_bytes()]), "v", "{k} was acknowledged and is lost");
    }
    assert_eq!(c.settled(&[b"SET", b"after", b"recovery"]), "OK");

    // It grows back to three voters: new nodes 4 and 5 join as learners
    // and are promoted, one at a time.
    let admin = format!("127.0.0.1:{}", resp(l));
    let mut joined = Vec::new();
    let mut named = format!("{l}={address}");
    for (id, p) in [(4u64, base + 3), (5, base + 7)] {
        let addr = format!("127.0.0.1:{p}");
        named += &format!(",{id}={addr}");
        let port = free_ports(1);
        joined.push((
            node(id, "new", &named, &dir.0.join(format!("node-{id}")), port, &["--join", "--protocol", protocol]),
            port,
        ));
        let (ok, out) = synod(&["member", "add", &id.to_string(), &addr, "--addr", &admin]);
        assert!(ok, "add {id}: {out}");
        let (ok, out) = synod(&["member", "promote", &id.to_string(), "--addr", &admin]);
        assert!(ok, "promote {id}: {out}");
    }
    assert_eq!(c.settled(&[b"SET", b"with", b"three"]), "OK");
    for (_, port) in &joined {
        let mut r = Raw::connect(*port);
        assert_eq!(r.settled(&[b"GET", b"after"]), "recovery");
        assert_eq!(r.settled(&[b"GET", acked[acked.len() / 2].as_bytes()]), "v");
    }
    let (ok, out) = synod(&["member", "list", "--addr", &admin]);
    assert!(ok && out.lines().filter(|l| l.contains("voter")).count() == 3, "{out}");
}
