//! Prometheus metrics, `/health` and `/ready` on an optional HTTP port.

use crate::health::{self, Health, Observed};
use crate::resp::{ClientSlots, CommandStats};
use core::net::SocketAddr;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use synod_core::id::NodeId;
use synod_core::replica::Role;
use synod_core::time::Duration;
use synod_net::node::{NodeHandle, NodeStatus};
use synod_net::runtime::Runtime;

type Labels = Vec<(String, String)>;

/// The gauges every node reports.
#[derive(Clone, Default)]
pub struct Metrics {
    term: Family<Labels, Gauge>,
    commit: Family<Labels, Gauge>,
    applied: Family<Labels, Gauge>,
    leader: Family<Labels, Gauge>,
    in_flight: Family<Labels, Gauge>,
    peer_lag: Family<Labels, Gauge>,
    apply_lag: Family<Labels, Gauge>,
    disk_used: Family<Labels, Gauge>,
    disk_quota: Family<Labels, Gauge>,
    nospace: Family<Labels, Gauge>,
    failed: Family<Labels, Gauge>,
    clients: Gauge,
    max_clients: Gauge,
    leader_changes: Family<Labels, Counter>,
    elections: Family<Labels, Counter>,
    applied_commands: Family<Labels, Counter>,
    snapshots: Family<Labels, Counter>,
    snapshot_bytes: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    frames_sent: Family<Labels, Counter>,
    bytes_sent: Family<Labels, Counter>,
    frames_received: Family<Labels, Counter>,
    bytes_received: Family<Labels, Counter>,
    /// The peer-lag series each node of the process shows now.
    lag_series: Arc<Mutex<std::collections::BTreeMap<u64, Vec<Labels>>>>,
}

impl Metrics {
    fn register(&self, r: &mut Registry) {
        r.register("synod_term", "Current term (ballot)", self.term.clone());
        r.register("synod_commit_index", "Highest index known committed", self.commit.clone());
        r.register("synod_applied_index", "Highest index applied to the service", self.applied.clone());
        r.register("synod_is_leader", "1 if this node leads", self.leader.clone());
        r.register("synod_in_flight_requests", "Client requests in flight", self.in_flight.clone());
        r.register("synod_apply_lag_entries", "Entries committed but not yet applied here", self.apply_lag.clone());
        r.register("synod_peer_lag_entries", "Entries a peer is behind the leader's log", self.peer_lag.clone());
        r.register("synod_disk_used_bytes", "Bytes the node's log and snapshots take", self.disk_used.clone());
        r.register("synod_disk_quota_bytes", "The node's disk quota (0: none)", self.disk_quota.clone());
        r.register(
            "synod_alarm_nospace",
            "1 while the node refuses writes for want of disk (quota passed or file system full)",
            self.nospace.clone(),
        );
        r.register("synod_node_failed", "1 once the node stopped after a fatal error", self.failed.clone());
        r.register("synod_connected_clients", "RESP clients connected to this process", self.clients.clone());
        r.register("synod_max_clients", "The process's client limit", self.max_clients.clone());
        r.register("synod_leader_changes", "Times the leader this node knows changed", self.leader_changes.clone());
        r.register("synod_elections_started", "Elections this node started as a candidate", self.elections.clone());
        r.register("synod_commands_applied", "Committed commands applied here", self.applied_commands.clone());
        r.register("synod_snapshots", "Snapshots this node took of its state", self.snapshots.clone());
        r.register("synod_snapshot_bytes", "Bytes of the snapshots this node took", self.snapshot_bytes.clone());
        r.register(
            "synod_requests",
            "Client requests this process's clients sent through this node, by result (ok, error)",
            self.requests.clone(),
        );
        r.register("synod_peer_sent_frames", "Frames written to each peer", self.frames_sent.clone());
        r.register("synod_peer_sent_bytes", "Bytes of frames written to each peer", self.bytes_sent.clone());
        r.register("synod_peer_received_frames", "Frames read from each peer", self.frames_received.clone());
        r.register("synod_peer_received_bytes", "Bytes of frames read from each peer", self.bytes_received.clone());
    }

    /// Takes `node`'s status once: updates its series from it and returns
    /// its health verdict (a leader must have heard a quorum within
    /// `election_timeout`).
    async fn refresh(&self, node: &NodeHandle, runtime: &dyn Runtime, election_timeout: Duration) -> Health {
        let l = vec![("node".to_string(), node.id().to_string())];
        let failure = node.failure();
        self.failed.get_or_create(&l).set(i64::from(failure.is_some()));
        if let Some(why) = failure {
            return health::assess(node.id(), Observed::Failed(&why), election_timeout);
        }
        match node.status().await {
            Ok(s) => {
                self.record(&l, &s);
                health::assess(node.id(), Observed::Status(&s, runtime.now()), election_timeout)
            }
            Err(e) => health::assess(node.id(), Observed::Silent(&e.to_string()), election_timeout),
        }
    }

    fn record(&self, l: &Labels, s: &NodeStatus) {
        let me = s.replica.id;
        self.term.get_or_create(l).set(s.replica.term.0 as i64);
        self.commit.get_or_create(l).set(s.replica.commit.0 as i64);
        self.applied.get_or_create(l).set(s.applied.0 as i64);
        self.leader.get_or_create(l).set(i64::from(s.replica.role == Role::Leader));
        self.in_flight.get_or_create(l).set(s.in_flight as i64);
        self.apply_lag.get_or_create(l).set(s.replica.commit.0.saturating_sub(s.applied.0) as i64);
        self.disk_used.get_or_create(l).set(s.disk.used_bytes.unwrap_or(0) as i64);
        self.disk_quota.get_or_create(l).set(s.disk.quota_bytes.unwrap_or(0) as i64);
        self.nospace.get_or_create(l).set(i64::from(s.disk.alarm.is_some()));
        let c = &s.counters;
        total(&self.leader_changes.get_or_create(l), c.leader_changes);
        total(&self.elections.get_or_create(l), c.elections_started);
        total(&self.applied_commands.get_or_create(l), c.commands_applied);
        total(&self.snapshots.get_or_create(l), c.snapshots_taken);
        total(&self.snapshot_bytes.get_or_create(l), c.snapshot_bytes);
        for t in &s.traffic {
            let pl = labels(me, "peer", t.peer);
            total(&self.frames_sent.get_or_create(&pl), t.frames_sent);
            total(&self.bytes_sent.get_or_create(&pl), t.bytes_sent);
            total(&self.frames_received.get_or_create(&pl), t.frames_received);
            total(&self.bytes_received.get_or_create(&pl), t.bytes_received);
        }
        for (result, n) in [("ok", c.requests_ok), ("error", c.requests_failed)] {
            let rl = labels(me, "result", result);
            total(&self.requests.get_or_create(&rl), n);
        }
        // Only a leader knows its peers' lag; once it is not one, its
        // series go rather than keep the last values it saw.
        let peers = if s.replica.role == Role::Leader { s.peers.as_slice() } else { &[] };
        let mut now_set = Vec::with_capacity(peers.len());
        for p in peers {
            let pl = labels(me, "peer", p.id);
            self.peer_lag.get_or_create(&pl).set(s.replica.last_index.0.saturating_sub(p.match_index.0) as i64);
            now_set.push(pl);
        }
        let mut shown = self.lag_series.lock().unwrap_or_else(|e| e.into_inner());
        let before = shown.insert(me.0, now_set.clone()).unwrap_or_default();
        for gone in before.iter().filter(|l| !now_set.contains(l)) {
            self.peer_lag.remove(gone);
        }
    }
}

/// Node `node`'s series split by `key`.
fn labels(node: NodeId, key: &str, value: impl core::fmt::Display) -> Labels {
    vec![("node".to_string(), node.to_string()), (key.to_string(), value.to_string())]
}

/// Moves `counter` up to the node's own running `value` (a node only
/// counts up, and its counters live as long as the process).
fn total(counter: &Counter, value: u64) {
    let shown = counter.get();
    if value > shown {
        counter.inc_by(value - shown);
    }
}

/// The latest verdicts, and when they were taken.
type Verdicts = Arc<Mutex<Option<(std::time::Instant, Vec<Health>)>>>;

/// How often the gauges and verdicts are refreshed.
const REFRESH: Duration = Duration::from_millis(250);

/// Verdicts older than this mean the refresh itself is stuck (a node's
/// driver that stopped answering): then nothing is healthy.
const STALE: core::time::Duration = core::time::Duration::from_secs(3);

/// Serves `/metrics`, `/health` and `/ready` for `nodes` on `addr` (an
/// HTTP thread), refreshing the gauges and verdicts every 250 ms on
/// `runtime`; `slots` are the process's clients, `commands` its RESP
/// figures, `syncs` its group commits, `election_timeout` the
/// window in which a leader must have heard from a quorum.
pub fn serve(
    addr: SocketAddr,
    nodes: Vec<NodeHandle>,
    slots: Arc<ClientSlots>,
    commands: &CommandStats,
    syncs: &crate::sync_stats::SyncStats,
    runtime: Arc<dyn Runtime>,
    election_timeout: Duration,
) -> std::io::Result<()> {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    commands.register(&mut registry);
    syncs.register(&mut registry);
    let registry = Arc::new(registry);
    let verdicts: Verdicts = Arc::default();
    let (m, v) = (metrics.clone(), verdicts.clone());
    let rt = runtime.clone();
    runtime.spawn(Box::pin(async move {
        loop {
            let mut all = Vec::with_capacity(nodes.len());
            for n in &nodes {
                all.push(m.refresh(n, rt.as_ref(), election_timeout).await);
            }
            *v.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), all));
            m.clients.set(slots.in_use() as i64);
            m.max_clients.set(slots.max() as i64);
            rt.sleep_until(rt.now() + REFRESH).await;
        }
    }));
    let server = tiny_http::Server::http(addr).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new().name("synod-metrics".into()).spawn(move || {
        for req in server.incoming_requests() {
            let path = req.url().split('?').next().unwrap_or_default();
            let response = match path {
                "/metrics" => {
                    let mut body = String::new();
                    match encode(&mut body, &registry) {
                        Ok(()) => tiny_http::Response::from_string(body)
                            .with_header(header("Content-Type", "text/plain; version=0.0.4")),
                        Err(_) => tiny_http::Response::from_string("encoding failed").with_status_code(500),
                    }
                }
                "/health" => verdict_response(&verdicts, |h| h.healthy),
                "/ready" => verdict_response(&verdicts, |h| h.ready),
                _ => tiny_http::Response::from_string("not found: /metrics, /health, /ready").with_status_code(404),
            };
            let _ = req.respond(response);
        }
    })?;
    Ok(())
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// 200 when every node of the process passes `check`, else 503; the JSON
/// body says why either way.
fn verdict_response(
    verdicts: &Verdicts,
    check: impl Fn(&Health) -> bool,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let guard = verdicts.lock().unwrap_or_else(|e| e.into_inner());
    let (ok, body) = match guard.as_ref() {
        None => (false, serde_json::json!({ "ok": false, "reasons": ["no status taken yet: the node is starting"] })),
        Some((at, _)) if at.elapsed() > STALE => {
            let why = format!(
                "the nodes' status was last taken {} ms ago: a node is not answering",
                at.elapsed().as_millis()
            );
            (false, serde_json::json!({ "ok": false, "reasons": [why] }))
        }
        Some((at, nodes)) => {
            let ok = nodes.iter().all(&check);
            (ok, serde_json::json!({ "ok": ok, "checked_ms_ago": at.elapsed().as_millis() as u64, "nodes": nodes }))
        }
    };
    tiny_http::Response::from_string(body.to_string())
        .with_status_code(if ok { 200 } else { 503 })
        .with_header(header("Content-Type", "application/json"))
}
