//! Backups: `synod snapshot save` from a cluster under load holds every
//! write acknowledged before it started, and a new cluster restored from
//! the file serves them; damaged files and occupied directories are
//! refused.

mod common;

use common::{Raw, Scratch, cluster, cluster_with, free_ports, synod};
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn a_backup_taken_under_load_restores_every_acknowledged_write_into_a_new_cluster() {
    backup_and_restore(&[]);
}

#[test]
fn a_multi_paxos_backup_restores_into_a_new_cluster() {
    backup_and_restore(&["--protocol", "multi-paxos"]);
}

fn backup_and_restore(flags: &[&str]) {
    let dir = Scratch::new(&format!("backup{}", flags.len()));
    let port = free_ports(3);
    let mut old = cluster_with(&dir.0.join("old"), port, 3, flags);
    let mut c = Raw::connect(port);
    // Values large enough that the backup takes several reads.
    let value = |i: usize| format!("{i}-{}", "v".repeat(4000));
    for i in 0..600 {
        let k = format!("k{i}");
        assert_eq!(c.settled(&[b"SET", k.as_bytes(), value(i).as_bytes()]), "OK");
    }

    // A writer keeps going while the backup is taken, through a follower.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut c = Raw::connect(port);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("w{i}");
                if c.text(&[b"SET", k.as_bytes(), b"1"]) == "OK" {
                    acked.lock().unwrap().push(k);
                }
                i += 1;
            }
        })
    };
    std::thread::sleep(core::time::Duration::from_millis(300));
    let before: Vec<String> = acked.lock().unwrap().clone();
    let file = dir.0.join("cluster.bak");
    let follower = format!("127.0.0.1:{}", port + 1);
    let (ok, out) = synod(&["snapshot", "save", file.to_str().unwrap(), "--addr", &follower]);
    assert!(ok, "save: {out}");
    assert!(out.contains("voters 1,2,3"), "{out}");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(!before.is_empty(), "the writer wrote before the save");
    old.kill();

    let (ok, out) = synod(&["snapshot", "inspect", file.to_str().unwrap()]);
    assert!(ok && out.contains("index "), "inspect: {out}");

    // A new cluster, restored from the file into every member.
    let new = dir.0.join("new");
    for id in ["1", "2", "3"] {
        let d = new.join(format!("node-{id}"));
        let (ok, out) = synod(&[
            "snapshot",
            "restore",
            file.to_str().unwrap(),
            "--data-dir",
            d.to_str().unwrap(),
            "--id",
            id,
            "--members",
            "1,2,3",
            "--cluster-id",
            "synod-local",
        ]);
        assert!(ok, "restore {id}: {out}");
    }
    let again = synod(&[
        "snapshot",
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        new.join("node-1").to_str().unwrap(),
        "--id",
        "1",
        "--members",
        "1,2,3",
    ]);
    assert!(!again.0 && again.1.contains("is not empty"), "restoring over a node's data: {}", again.1);

    let port2 = free_ports(3);
    let _restored = cluster_with(&new, port2, 3, flags);
    let mut c = Raw::connect(port2 + 2);
    for i in 0..600 {
        let k = format!("k{i}");
        assert_eq!(c.settled(&[b"GET", k.as_bytes()]), value(i), "{k}");
    }
    for k in &before {
        assert_eq!(c.settled(&[b"GET", k.as_bytes()]), "1", "{k} was acknowledged before the save started");
    }
    assert_eq!(c.settled(&[b"SET", b"after", b"restore"]), "OK", "the restored cluster takes writes");
}

#[test]
fn a_damaged_or_foreign_backup_is_refused_with_why() {
    let dir = Scratch::new("backup-damaged");
    let port = free_ports(1);
    let old = cluster(&dir.0.join("old"), port, 1);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"k", b"v"]), "OK");
    let file = dir.0.join("one.bak");
    let (ok, out) = synod(&["snapshot", "save", file.to_str().unwrap(), "--addr", &format!("127.0.0.1:{port}")]);
    assert!(ok, "save: {out}");
    drop(old);
    let good = std::fs::read(&file).unwrap();

    let restore = |f: &std::path::Path, into: &str| {
        synod(&[
            "snapshot",
            "restore",
            f.to_str().unwrap(),
            "--data-dir",
            dir.0.join(into).to_str().unwrap(),
            "--id",
            "1",
            "--members",
            "1",
        ])
    };
    let bad = dir.0.join("bad.bak");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&bad, &flipped).unwrap();
    for (bytes, why) in [
        (flipped, "checksum"),
        (good[..good.len() - 10].to_vec(), "checksum"),
        (b"hello".to_vec(), "too short"),
        (b"*1\r\n$4\r\nPING\r\n and more bytes".to_vec(), "not a synod backup"),
    ] {
        std::fs::write(&bad, &bytes).unwrap();
        let (ok, out) = synod(&["snapshot", "inspect", bad.to_str().unwrap()]);
        assert!(!ok && out.contains(why), "inspect: {out}");
        let (ok, out) = restore(&bad, "from-bad");
        assert!(!ok && out.contains(why), "restore: {out}");
        assert!(!dir.0.join("from-bad").exists(), "a refused restore creates nothing");
    }
    let (ok, out) = restore(&file, "fine");
    assert!(ok, "the good file restores: {out}");
}
