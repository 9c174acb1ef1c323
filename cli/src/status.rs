//! `synod status`: a node's view of the cluster, as JSON (over RESP, with
//! the `SYNOD.STATUS` command) or as a table for people.

use crate::resp::Server;
use serde_json::{Value, json};
use synod_net::client::ClientError;

/// The status document a node serves.
pub async fn json(server: &Server) -> Result<String, ClientError> {
    let (node, dir) = (server.backend.as_ref(), &server.dir);
    let clients = json!({ "connected": server.policy.slots.in_use(), "max": server.policy.slots.max() });
    if let Some(why) = node.failure() {
        return Ok(json!({ "state": "failed", "failure": why, "clients": clients }).to_string());
    }
    let s = node.status().await?;
    let r = &s.replica;
    let peers: Vec<Value> = s
        .peers
        .iter()
        .map(|p| {
            json!({
                "id": p.id.0,
                "voter": p.voter,
                "match_index": p.match_index.0,
                "next_index": p.next_index.0,
                "lag": r.last_index.0.saturating_sub(p.match_index.0),
                "phi": dir.suspicion.phi(p.id, (dir.clock)()).map(|phi| (phi * 100.0).round() / 100.0),
                "resp": dir.resp.get(&p.id).map(|a| a.to_string()),
            })
        })
        .collect();
    let doc = json!({
        "id": r.id.0,
        "role": format!("{:?}", r.role),
        "term": r.term.0,
        "leader": r.leader.map(|l| l.0),
        "commit_index": r.commit.0,
        "applied_index": s.applied.0,
        "last_index": r.last_index.0,
        "persisted_index": r.persisted.0,
        "snapshot_index": r.snapshot_index.0,
        "voters": r.membership.voters().iter().map(|v| v.0).collect::<Vec<_>>(),
        "learners": r.membership.learners().iter().map(|v| v.0).collect::<Vec<_>>(),
        "outgoing": r.membership.outgoing().iter().map(|v| v.0).collect::<Vec<_>>(),
        "joint": r.membership.is_joint(),
        "membership": crate::resp::membership_json(&r.membership, r.leader, &s.peers),
        "in_flight": s.in_flight,
        "peers": peers,
        "state": "ok",
        "clients": clients,
        "disk": {
            "used_bytes": s.disk.used_bytes,
            "quota_bytes": s.disk.quota_bytes,
            "alarm": s.disk.alarm.as_ref().map(|_| "NOSPACE"),
            "alarm_reason": s.disk.alarm.as_ref().map(|a| a.to_string()),
        },
    });
    Ok(doc.to_string())
}

/// Fetches a node's status over RESP (any runtime: plain blocking I/O).
pub fn fetch(addr: &str) -> Result<Value, String> {
    fetch_as(addr, None, core::time::Duration::from_secs(10))
}

/// [`fetch`], giving up after `timeout` (a paused node accepts but never answers).
pub fn fetch_with_timeout(addr: &str, timeout: core::time::Duration) -> Result<Value, String> {
    fetch_as(addr, None, timeout)
}

/// [`fetch_with_timeout`], authenticating first with `auth` (user,
/// password) if given.
pub fn fetch_as(
    addr: &str,
    auth: Option<(Option<&str>, &str)>,
    timeout: core::time::Duration,
) -> Result<Value, String> {
    crate::remote::call_json(addr, auth, &[b"SYNOD.STATUS"], timeout)
}

/// Renders the status document as a table.
pub fn table(v: &Value) -> String {
    let g = |k: &str| {
        v.get(k).map_or("-".to_string(), |x| {
            if x.is_null() { "-".into() } else { x.to_string().trim_matches('"').to_string() }
        })
    };
    if g("state") == "failed" {
        return format!("node stopped after a fatal error: {}\n", g("failure"));
    }
    let sub = |outer: &str, k: &str| {
        v.get(outer).and_then(|o| o.get(k)).map_or("-".to_string(), |x| {
            if x.is_null() { "-".into() } else { x.to_string().trim_matches('"').to_string() }
        })
    };
    let mut out = format!(
        "node {}  role {}  term {}  leader {}\ncommit {}  applied {}  last {}  persisted {}  snapshot {}  in-flight {}\nvoters {}  learners {}{}\n",
        g("id"),
        g("role"),
        g("term"),
        g("leader"),
        g("commit_index"),
        g("applied_index"),
        g("last_index"),
        g("persisted_index"),
        g("snapshot_index"),
        g("in_flight"),
        g("voters"),
        g("learners"),
        if g("joint") == "true" { format!("  joint: leaving {}", g("outgoing")) } else { String::new() },
    );
    out.push_str(&format!(
        "disk {} of {} bytes  alarm {}  clients {} of {}\n",
        sub("disk", "used_bytes"),
        sub("disk", "quota_bytes"),
        sub("disk", "alarm_reason"),
        sub("clients", "connected"),
        sub("clients", "max"),
    ));
    if let Some(peers) = v.get("peers").and_then(Value::as_array).filter(|p| !p.is_empty()) {
        out.push_str(&format!(
            "\n{:>6} {:>6} {:>12} {:>12} {:>8} {:>10}  {}\n",
            "peer", "voter", "match", "next", "lag", "suspicion", "resp"
        ));
        for p in peers {
            let f = |k: &str| {
                p.get(k).map_or("-".to_string(), |x| {
                    if x.is_null() { "-".into() } else { x.to_string().trim_matches('"').to_string() }
                })
            };
            out.push_str(&format!(
                "{:>6} {:>6} {:>12} {:>12} {:>8} {:>10}  {}\n",
                f("id"),
                f("voter"),
                f("match_index"),
                f("next_index"),
                f("lag"),
                f("phi"),
                f("resp")
            ));
        }
    }
    out
}
