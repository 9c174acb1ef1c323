//! `/health` and `/ready` on the metrics port, against running nodes.

mod common;

use common::*;

#[test]
fn a_serving_cluster_is_healthy_and_ready_and_says_so_per_node() {
    let dir = Scratch::new("health-ok");
    let (port, metrics) = (free_ports(3), free_ports(1));
    let addr = format!("127.0.0.1:{metrics}");
    let mut flags = insecure_flags();
    flags.extend(["--metrics".to_string(), addr.clone()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _cluster = cluster_with(&dir.0, port, 3, &flags);
    let _: String = retry(port, redis::cmd("SET").arg("k").arg("v"));
    until("/health to answer 200", 30, || http_get(&addr, "/health").0 == 200);
    let (code, body) = http_get(&addr, "/ready");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&http_get(&addr, "/health").1).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes.iter().filter(|n| n["role"] == "leader").count(), 1, "{v}");
    assert!(nodes.iter().all(|n| n["healthy"] == true && n["leader"].is_u64()), "{v}");
    assert_eq!(http_get(&addr, "/nothing").0, 404);
    // INFO gives each node's own verdict, the same one.
    for p in port..port + 3 {
        let info = Raw::connect(p).text(&[b"INFO"]);
        assert_eq!(info_field(&info, "healthy").as_deref(), Some("1"), "{info}");
        assert_eq!(info_field(&info, "health_reasons").as_deref(), Some("none"), "{info}");
        assert_eq!(info_field(&info, "read_mode").as_deref(), Some("lease"), "the default: {info}");
    }
}

#[test]
fn a_node_that_knows_no_leader_is_neither_healthy_nor_ready() {
    let dir = Scratch::new("health-alone");
    let peers = free_ports(3);
    let (resp, metrics) = (free_ports(1), free_ports(1));
    let addr = format!("127.0.0.1:{metrics}");
    // Node 1 of three whose peers never start: it can never elect.
    let _node = cluster_node(&dir.0, 1, peers, resp, &["--metrics", &addr]);
    until("/health to answer", 30, || http_get(&addr, "/health").0 != 0);
    // Past a few election timeouts it still has no leader.
    std::thread::sleep(core::time::Duration::from_secs(2));
    let (code, body) = http_get(&addr, "/health");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no leader known"), "{body}");
    assert_eq!(http_get(&addr, "/ready").0, 503);
}
