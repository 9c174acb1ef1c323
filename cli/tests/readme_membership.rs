//! The README's "Replace a machine" transcript, run exactly as it stands,
//! while a client writes through a node that stays a member: every write
//! acknowledged during the replacement is there afterwards, node 4 serves,
//! the configuration is {2, 3, 4}, and a restart with a stale member list
//! is refused with the reason.

mod common;

use common::{Scratch, bin};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// The first ```sh block after the marker line.
fn transcript() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let marker = readme.find("<!-- cli/tests/readme_membership.rs runs this block").expect("the README's marker");
    let rest = &readme[marker..];
    let start = rest.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let end = rest[start..].find("```").expect("the block's end");
    rest[start..start + end].to_string()
}

/// Kills every node the transcript started (their pids are in files).
struct Nodes(std::path::PathBuf);

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 1..=4 {
            if let Ok(pid) = std::fs::read_to_string(self.0.join(format!("demo/node-{i}.pid"))) {
                let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
            }
        }
    }
}

fn connect(port: u16) -> Option<redis::Connection> {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?.get_connection().ok()?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    Some(c)
}

#[test]
fn the_readme_replaces_a_member_and_loses_no_acknowledged_write() {
    let dir = Scratch::new("readme-membership");
    let _nodes = Nodes(dir.0.clone());
    let path = format!("{}:{}", bin().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());

    // A client writing through node 2 all along, keeping what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut conn = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Some(c) = conn.as_mut() else {
                    conn = connect(7202);
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let key = format!("during-{i}");
                match redis::cmd("SET").arg(&key).arg(i).query::<String>(c) {
                    Ok(_) => acked.push(key),
                    Err(e) if e.is_io_error() => conn = None,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
                i += 1;
            }
            acked
        })
    };

    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &transcript()])
        .current_dir(&dir.0)
        .env("PATH", &path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    let log = |i: u32| std::fs::read_to_string(dir.0.join(format!("demo/node-{i}.log"))).unwrap_or_default();
    assert!(
        out.status.success(),
        "the transcript failed:\n{shown}\n{}\nnode 4's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log(4)
    );
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert!(acked.len() > 10, "the writer got few writes through: {}", acked.len());

    // What `synod member list` printed: 2, 3 and 4 vote; 1 is gone.
    let listed: Vec<&str> = shown.lines().skip_while(|l| !l.trim_start().starts_with("id ")).skip(1).collect();
    let ids: Vec<&str> = listed.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(ids, ["2", "3", "4"], "member list:\n{shown}");
    assert!(listed.iter().all(|l| l.contains("voter")), "member list:\n{shown}");

    // Node 4 has every acknowledged write and takes new ones.
    let mut four = connect(7204).expect("node 4 serves");
    for key in &acked {
        let v: Option<String> = redis::cmd("GET").arg(key).query(&mut four).unwrap();
        assert!(v.is_some(), "{key} was acknowledged during the replacement and is lost");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis::cmd("SET").arg("after").arg("replace").query::<String>(&mut four).is_err() {
        assert!(Instant::now() < deadline, "node 4 takes no writes");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut three = connect(7203).expect("node 3 serves");
    let v: Option<String> = redis::cmd("GET").arg("after").query(&mut three).unwrap();
    assert_eq!(v.as_deref(), Some("replace"));

    // Node 3 restarted with the founding member list its log no longer
    // has: refused, saying why.
    let pid = std::fs::read_to_string(dir.0.join("demo/node-3.pid")).unwrap();
    Command::new("kill").arg(pid.trim()).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let stale = Command::new(bin())
        .args(["node", "--id", "3", "--cluster-id", "demo", "--certs", "demo/certs", "--data-dir", "demo/node-3"])
        .args(["--members", "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103", "--resp", "127.0.0.1:7203"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&stale.stderr);
    assert!(!stale.status.success(), "a stale member list was accepted");
    assert!(why.contains("--members names nodes 1,2,3") && why.contains("has members 2,3,4"), "{why}");
    assert!(why.contains("with --join to let its log decide") && !why.contains("  "), "{why}");
}
