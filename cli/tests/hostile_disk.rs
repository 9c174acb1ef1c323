//! What clients cannot make a node do to its disk, over real sockets:
//! refused commands never reach the log; past the quota, or on a full file
//! system, writes are refused with NOSPACE while reads and deletes go on;
//! and a node whose storage fails for good says so instead of looking
//! healthy.

mod common;

use common::*;
use core::time::Duration;
use std::time::Instant;

/// The metrics page.
fn scrape(addr: &str) -> String {
    http_get(addr, "/metrics").1
}

#[test]
fn commands_the_store_would_refuse_never_reach_the_log() {
    let dir = Scratch::new("refused");
    let port = free_ports(3);
    let _proc = cluster(&dir.0, port, 3);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"warm", b"up"]), "OK");
    let before = du(&dir.0);
    // Ten 1.5 MiB values: each refused, and each used to cost 4.5 MiB of
    // log across the three nodes.
    let big = vec![b'v'; 3 << 19];
    for _ in 0..10 {
        assert_eq!(c.settled(&[b"SET", b"k", &big]), "ERR value too large");
    }
    assert_eq!(c.settled(&[b"LEASE", b"GRANT", b"0"]), "ERR ttl out of range");
    assert_eq!(c.settled(&[b"LEASE", b"GRANT", b"999999999999"]), "ERR ttl out of range");
    let lease = c.settled(&[b"LEASE", b"GRANT", b"60000"]);
    let long_name = vec![b'n'; 100 << 10];
    assert_eq!(c.settled(&[b"LOCK", &long_name, lease.as_bytes()]), "ERR lock name too large");
    let grown = du(&dir.0).saturating_sub(before);
    assert!(grown < 1 << 20, "refused commands grew the data directory by {grown} bytes");
}

#[test]
fn past_the_quota_writes_are_refused_reads_and_deletes_go_on_and_deletes_bring_writes_back() {
    let dir = Scratch::new("quota");
    let (port, metrics) = (free_ports(3), free_ports(1));
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let _proc = cluster_with(
        &dir.0,
        port,
        3,
        &["--quota-bytes", "3000000", "--snapshot-every", "25", "--metrics", &metrics_addr],
    );
    let mut c = Raw::connect(port);
    let value = vec![b'q'; 100 << 10];
    let mut written = Vec::new();
    let refusal = loop {
        let k = format!("k{}", written.len());
        let t = c.settled(&[b"SET", k.as_bytes(), &value]);
        if t != "OK" {
            break t;
        }
        written.push(k);
        assert!(written.len() < 200, "the quota never bit");
    };
    assert!(refusal.starts_with("NOSPACE"), "{refusal}");
    // The node that refused (the leader, or the node itself) shows the
    // alarm in INFO, SYNOD.STATUS and the metrics.
    let alarmed: Vec<u16> = (port..port + 3)
        .filter(|p| info_field(&Raw::connect(*p).text(&[b"INFO"]), "alarm").as_deref() == Some("NOSPACE"))
        .collect();
    assert!(!alarmed.is_empty(), "no node shows the alarm in INFO");
    let status = Raw::connect(alarmed[0]).text(&[b"SYNOD.STATUS"]);
    assert!(status.contains(r#""alarm":"NOSPACE""#), "{status}");
    let node = alarmed[0] - port + 1;
    let gauge = format!("synod_alarm_nospace{{node=\"{node}\"}} 1");
    until("the alarm in the metrics", 30, || scrape(&metrics_addr).contains(&gauge));
    // A node whose storage refuses writes is not healthy, but still ready:
    // it serves reads.
    let (code, body) = http_get(&metrics_addr, "/health");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("writes refused: storage passed its quota"), "{body}");
    let (code, body) = http_get(&metrics_addr, "/ready");
    assert_eq!(code, 200, "{body}");
    let info = Raw::connect(alarmed[0]).text(&[b"INFO"]);
    assert_eq!(info_field(&info, "healthy").as_deref(), Some("0"), "{info}");
    assert_eq!(info_field(&info, "ready").as_deref(), Some("1"), "{info}");
    // Reads go on, and so do deletes.
    assert_eq!(c.settled(&[b"GET", written[0].as_bytes()]).len(), value.len());
    for k in &written {
        assert_eq!(c.settled(&[b"DEL", k.as_bytes()]), "1");
    }
    // The next snapshots are small and the old segments go: writes resume.
    until("the alarm to clear", 60, || c.settled(&[b"SET", b"again", b"v"]) == "OK");
    for p in port..port + 3 {
        until("every node's alarm to clear", 30, || {
            info_field(&Raw::connect(p).text(&[b"INFO"]), "alarm").as_deref() == Some("none")
        });
    }
}

#[test]
fn a_full_file_system_turns_writes_away_keeps_reads_and_loses_nothing() {
    let Some(disk) = Tmpfs::mount("enospc", 48 << 20) else { return };
    let data = disk.0.join("data");
    let port = free_ports(3);
    let mut proc = cluster_with(&data, port, 3, &["--quota-bytes", "0"]);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"first", b"v"]), "OK");
    let filler = disk.fill(3 << 20);
    let value = vec![b'f'; 64 << 10];
    let mut acked = vec!["first".to_string()];
    let mut refused = None;
    for i in 0..400 {
        let k = format!("k{i}");
        let t = c.text(&[b"SET", k.as_bytes(), &value]);
        match t.as_str() {
            "OK" => acked.push(k),
            t if t.starts_with("NOSPACE") => {
                refused = Some(i);
                break;
            }
            // In flight when the disk filled: may or may not apply.
            _ => {}
        }
    }
    assert!(refused.is_some(), "the file system never filled");
    assert!(proc.0.try_wait().unwrap().is_none(), "the process died of a full disk");
    for p in port..port + 3 {
        let mut n = Raw::connect(p);
        assert_eq!(n.text(&[b"PING"]), "PONG");
        let info = n.text(&[b"INFO"]);
        assert_eq!(info_field(&info, "node_state").as_deref(), Some("ok"), "{info}");
    }
    let info = c.text(&[b"INFO"]);
    assert!(info_field(&info, "alarm_reason").unwrap().contains("storage refused a write"), "{info}");
    assert_eq!(c.settled(&[b"GET", b"first"]), "v", "reads go on");
    // Room again: writes resume by themselves, and nothing acknowledged is lost.
    std::fs::remove_file(filler).unwrap();
    until("writes to resume", 60, || c.text(&[b"SET", b"after", b"v"]) == "OK");
    for k in &acked {
        let v = c.settled(&[b"GET", k.as_bytes()]);
        assert!(v == "v" || v.len() == value.len(), "{k} lost: {}", &v[..v.len().min(80)]);
    }
}

#[test]
fn a_node_whose_storage_fails_for_good_exits_non_zero() {
    let dir = Scratch::new("fatal-node");
    let (peer, resp) = (free_ports(1), free_ports(1));
    let mut proc =
        single_node(&dir.0.join("n1"), peer, &["--resp", &format!("127.0.0.1:{resp}"), "--snapshot-every", "10"]);
    let mut c = Raw::connect(resp);
    assert_eq!(c.settled(&[b"SET", b"k", b"v"]), "OK");
    std::fs::remove_dir_all(dir.0.join("n1")).unwrap();
    for i in 0..40 {
        let _ = c.command(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
        if c.reply().is_none() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the node kept running with failed storage");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "exited {status}");
    let mut stderr = String::new();
    use std::io::Read;
    proc.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("node 1 stopped: storage failed"), "{stderr}");
}

#[test]
fn a_stopped_node_answers_every_command_with_why() {
    let dir = Scratch::new("fatal-cluster");
    let port = free_ports(1);
    let proc = cluster_with(&dir.0, port, 1, &["--snapshot-every", "10"]);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"k", b"v"]), "OK");
    std::fs::remove_dir_all(dir.0.join("node-1")).unwrap();
    let mut w = Raw::connect(port);
    until("the node to stop", 30, || w.text(&[b"SET", b"x", b"v"]).contains("node stopped"));
    let ping = c.text(&[b"PING"]);
    assert!(ping.starts_with("ERR node stopped after a fatal error: storage failed"), "{ping}");
    let info = c.text(&[b"INFO"]);
    assert_eq!(info_field(&info, "node_state").as_deref(), Some("failed"), "{info}");
    assert!(info_field(&info, "node_failure").unwrap().contains("storage failed"));
    assert_eq!(info_field(&info, "healthy").as_deref(), Some("0"), "{info}");
    assert!(c.text(&[b"SYNOD.STATUS"]).contains(r#""state":"failed""#));
    drop(proc);
}
