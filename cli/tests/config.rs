//! The node's settings: flag over file over default for every knob, a
//! printout of the effective settings, refusals with the reason, and the
//! timing knobs reaching the running replicas.

mod common;

use common::*;
use core::time::Duration;
use std::process::{Command, Stdio};
use std::time::Instant;

fn node(args: &[&str]) -> std::process::Output {
    Command::new(bin()).arg("node").args(args).stdin(Stdio::null()).output().expect("synod runs")
}

#[test]
fn print_config_shows_each_flag_over_the_file_over_the_default() {
    let dir = Scratch::new("print-config");
    let file = dir.0.join("node.toml");
    std::fs::write(
        &file,
        "protocol = \"multi-paxos\"\nruntime = \"smol\"\nlisten_peers = \"127.0.0.1:8999\"\n\
         [server]\nsnapshot_every = 77\nrequirepass = \"hunter2\"\n\
         [[server.users]]\nname = \"app\"\npassword = \"s3cret\"\nrole = \"read-write\"\n\
         [tuning]\nelection_timeout_ms = 900\nheartbeat_ms = 100\nread_mode = \"read-index\"\n",
    )
    .unwrap();
    let out = node(&[
        "--config",
        file.to_str().unwrap(),
        "--id",
        "1",
        "--members",
        "1=127.0.0.1:7999",
        "--protocol",
        "raft",
        "--heartbeat-ms",
        "60",
        "--seed",
        "42",
        "--print-config",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("hunter2") && !text.contains("s3cret"), "a secret was printed:\n{text}");
    // A user's password is printed as the digest the file also takes
    // (sha256("s3cret")), so the printout reads back to the same users.
    assert!(
        text.contains(r#"password_sha256 = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0""#),
        "{text}"
    );
    assert!(text.contains("requirepass is set (not shown)"), "{text}");
    let t: toml::Table = toml::from_str(&text).expect("the printout is a config file");
    let tuning = t["tuning"].as_table().unwrap();
    assert_eq!(t["protocol"].as_str(), Some("raft"), "the flag wins over the file");
    assert_eq!(t["runtime"].as_str(), Some("smol"), "the file wins over the default");
    assert_eq!(t["transport"].as_str(), Some("tcp"), "the default");
    assert_eq!(t["listen_peers"].as_str(), Some("127.0.0.1:8999"), "where peers are accepted, from the file");
    assert_eq!(t["server"]["snapshot_every"].as_integer(), Some(77));
    assert_eq!(tuning["election_timeout_ms"].as_integer(), Some(900));
    assert_eq!(tuning["heartbeat_ms"].as_integer(), Some(60));
    assert_eq!(tuning["request_timeout_ms"].as_integer(), Some(5000));
    assert_eq!(tuning["read_mode"].as_str(), Some("read-index"), "the file wins over the default (lease)");
    assert_eq!(tuning["max_clock_drift_ms"].as_integer(), Some(90));
    assert_eq!(tuning["seed"].as_integer(), Some(42));

    // And the printout, read back as the file, gives the same settings.
    let again = dir.0.join("again.toml");
    std::fs::write(&again, text.as_bytes()).unwrap();
    let out = node(&["--config", again.to_str().unwrap(), "--print-config"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(back, t);
}

#[test]
fn settings_that_cannot_work_are_refused_with_the_reason() {
    let refused = |args: &[&str], why: &str| {
        let mut all = vec!["--id", "1", "--members", "1=127.0.0.1:7999", "--print-config"];
        all.extend_from_slice(args);
        let out = node(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(err.contains(why), "{args:?}: {err}");
    };
    refused(&["--heartbeat-ms", "200"], "at least 5 times --heartbeat-ms");
    refused(&["--election-timeout-ms", "90000"], "maximum");
    refused(&["--worker-threads", "0"], "--worker-threads 0");
    refused(&["--read-mode", "lease", "--max-clock-drift-ms", "500"], "lease would be empty");
    let dir = Scratch::new("bad-config");
    let file = dir.0.join("node.toml");
    std::fs::write(&file, "[tuning]\nelection_timeout = 900\n").unwrap();
    refused(&["--config", file.to_str().unwrap()], "unknown field `election_timeout`");
}

/// The election timeout set on the command line is the one the replicas
/// run: no node of a fresh cluster can win an election before it, so the
/// first write is answered no sooner (with the 500 ms default it is
/// answered within about a second).
#[test]
fn the_election_timeout_reaches_the_running_replicas() {
    let dir = Scratch::new("election-timeout");
    let port = free_ports(3);
    let started = Instant::now();
    let mut flags = insecure_flags();
    flags.extend(["--election-timeout-ms", "3000", "--heartbeat-ms", "100"].map(String::from));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _cluster = cluster_with(&dir.0, port, 3, &flags);
    let _: String = retry(port, redis::cmd("SET").arg("k").arg("v"));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(3000), "a leader was elected {took:?} after start, before its timeout");
}
