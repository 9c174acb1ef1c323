//! The metrics page, parsed as Prometheus parses it, from real nodes:
//! every gauge is there with its type, and a leader that lost its
//! leadership stops showing its old peers' lag.

mod common;

use common::*;
use prometheus_parse::{Sample, Scrape, Value};
use std::process::Command;

fn scrape(addr: &str) -> Option<Scrape> {
    let (code, body) = http_get(addr, "/metrics");
    if code != 200 {
        return None;
    }
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).ok()
}

fn gauge(s: &Sample) -> f64 {
    match s.value {
        Value::Gauge(v) => v,
        ref other => panic!("{} is not a gauge: {other:?}", s.metric),
    }
}

fn samples<'a>(s: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    s.samples.iter().filter(|x| x.metric == name).collect()
}

#[test]
fn gauges_parse_and_a_deposed_leader_drops_its_peer_lag() {
    let dir = Scratch::new("metrics");
    let (peers, resp, metrics) = (free_ports(3), free_ports(3), free_ports(3));
    let addr = |i: u16| format!("127.0.0.1:{}", metrics + i);
    let mut nodes: Vec<Proc> =
        (0..3u16).map(|i| cluster_node(&dir.0, i + 1, peers, resp, &["--metrics", &addr(i)])).collect();
    let _: String = retry(resp, redis::cmd("SET").arg("k").arg("v"));
    let leader_of = |i: u16| {
        scrape(&addr(i)).is_some_and(|s| samples(&s, "synod_is_leader").first().is_some_and(|x| gauge(x) == 1.0))
    };
    let mut leader = None;
    until("a leader in the metrics", 30, || {
        leader = (0..3).find(|i| leader_of(*i));
        leader.is_some()
    });
    let leader = leader.unwrap();
    let s = scrape(&addr(leader)).unwrap();
    for name in [
        "synod_term",
        "synod_commit_index",
        "synod_applied_index",
        "synod_is_leader",
        "synod_in_flight_requests",
        "synod_apply_lag_entries",
        "synod_disk_used_bytes",
        "synod_disk_quota_bytes",
        "synod_alarm_nospace",
        "synod_node_failed",
        "synod_connected_clients",
        "synod_max_clients",
    ] {
        let found = samples(&s, name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        gauge(found[0]);
        assert!(s.docs.contains_key(name), "{name} has no HELP");
    }
    // Counters come as OpenMetrics writes them: `# TYPE x counter` and a
    // sample `x_total`, which this parser leaves untyped.
    let text = http_get(&addr(leader), "/metrics").1;
    let counter = |s: &Scrape, name: &str| -> f64 {
        let base = name.strip_suffix("_total").unwrap();
        assert!(text.contains(&format!("# TYPE {base} counter")), "{base} is not typed a counter");
        let found: Vec<_> = s.samples.iter().filter(|x| x.metric == name).collect();
        assert!(!found.is_empty(), "{name} missing");
        found
            .iter()
            .map(|x| match x.value {
                Value::Counter(v) | Value::Untyped(v) => v,
                ref other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    };
    assert!(counter(&s, "synod_elections_started_total") >= 0.0);
    assert!(counter(&s, "synod_leader_changes_total") >= 1.0, "the leader knows itself as one");
    assert!(counter(&s, "synod_commands_applied_total") >= 1.0, "the SET above");
    assert!(counter(&s, "synod_requests_total") >= 0.0);
    counter(&s, "synod_snapshots_total");
    counter(&s, "synod_snapshot_bytes_total");
    // The SET went through node 1's front end: its per-command figures.
    let first = http_get(&addr(0), "/metrics").1;
    assert!(first.contains("# TYPE synod_resp_command_seconds histogram"), "{first}");
    assert!(first.contains(r#"synod_resp_command_seconds_count{command="set"}"#), "{first}");
    assert!(first.contains("# TYPE synod_log_sync_seconds histogram"), "{first}");
    assert!(!first.contains(r#"synod_log_sync_seconds_count{node="1"} 0"#), "node 1 synced its log: {first}");
    assert!(first.contains(r#"synod_log_sync_seconds_count{node="1"}"#), "{first}");
    let calls = scrape(&addr(0)).unwrap();
    assert!(
        calls.samples.iter().any(|x| x.metric == "synod_resp_commands_total"
            && x.labels.get("command") == Some("set")
            && matches!(x.value, Value::Counter(v) | Value::Untyped(v) if v >= 1.0)),
        "{first}"
    );
    until("the leader's two peers' lag", 10, || {
        samples(&scrape(&addr(leader)).unwrap(), "synod_peer_lag_entries").len() == 2
    });

    // The leader has written to and read from both peers.
    let lead = scrape(&addr(leader)).unwrap();
    for name in ["synod_peer_sent_bytes_total", "synod_peer_received_frames_total"] {
        let per_peer: Vec<_> = lead.samples.iter().filter(|x| x.metric == name).collect();
        assert_eq!(per_peer.len(), 2, "{name}: {per_peer:?}");
        assert!(
            per_peer.iter().all(|x| matches!(x.value, Value::Counter(v) | Value::Untyped(v) if v > 0.0)),
            "{name}: {per_peer:?}"
        );
    }

    // Every metric the shipped dashboard charts is on the page.
    let _ = Raw::connect(resp).text(&[b"NO-SUCH-COMMAND"]);
    // Node 1's page has the RESP figures (the commands went there), the
    // leader's the peer lag.
    let page = http_get(&addr(0), "/metrics").1 + &http_get(&addr(leader), "/metrics").1;
    let dashboard =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/grafana-dashboard.json")).unwrap();
    let mut charted: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("synod_"))
        .collect();
    charted.sort_unstable();
    charted.dedup();
    assert!(charted.len() >= 15, "{charted:?}");
    for name in charted {
        assert!(
            page.lines().any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard charts {name}, which the page lacks"
        );
    }

    // Stop the leader until the others elect another, then let it go on:
    // it comes back a follower, and must not show the lag it last saw.
    let pid = nodes[leader as usize].0.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let others: Vec<u16> = (0..3).filter(|i| *i != leader).collect();
    until("a new leader", 30, || others.iter().any(|i| leader_of(*i)));
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    until("the old leader to see it lost", 30, || {
        scrape(&addr(leader)).is_some_and(|s| samples(&s, "synod_is_leader").first().is_some_and(|x| gauge(x) == 0.0))
    });
    until("the old leader's peer lag to go", 5, || {
        samples(&scrape(&addr(leader)).unwrap(), "synod_peer_lag_entries").is_empty()
    });
    nodes.clear();
}
