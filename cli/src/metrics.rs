//! Prometheus metrics on an optional HTTP port.

use crate::resp::ClientSlots;
use core::net::SocketAddr;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use synod_core::replica::Role;
use synod_core::time::Duration;
use synod_net::node::NodeHandle;
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
    disk_used: Family<Labels, Gauge>,
    disk_quota: Family<Labels, Gauge>,
    nospace: Family<Labels, Gauge>,
    failed: Family<Labels, Gauge>,
    clients: Gauge,
    max_clients: Gauge,
}

impl Metrics {
    fn register(&self, r: &mut Registry) {
        r.register("synod_term", "Current term (ballot)", self.term.clone());
        r.register("synod_commit_index", "Highest index known committed", self.commit.clone());
        r.register("synod_applied_index", "Highest index applied to the service", self.applied.clone());
        r.register("synod_is_leader", "1 if this node leads", self.leader.clone());
        r.register("synod_in_flight_requests", "Client requests in flight", self.in_flight.clone());
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
    }

    async fn refresh(&self, node: &NodeHandle) {
        let l = vec![("node".to_string(), node.id().to_string())];
        self.failed.get_or_create(&l).set(i64::from(node.failure().is_some()));
        let Ok(s) = node.status().await else { return };
        self.term.get_or_create(&l).set(s.replica.term.0 as i64);
        self.commit.get_or_create(&l).set(s.replica.commit.0 as i64);
        self.applied.get_or_create(&l).set(s.applied.0 as i64);
        self.leader.get_or_create(&l).set(i64::from(s.replica.role == Role::Leader));
        self.in_flight.get_or_create(&l).set(s.in_flight as i64);
        self.disk_used.get_or_create(&l).set(s.disk.used_bytes.unwrap_or(0) as i64);
        self.disk_quota.get_or_create(&l).set(s.disk.quota_bytes.unwrap_or(0) as i64);
        self.nospace.get_or_create(&l).set(i64::from(s.disk.alarm.is_some()));
        for p in &s.peers {
            let pl = vec![("node".to_string(), s.replica.id.to_string()), ("peer".to_string(), p.id.to_string())];
            self.peer_lag.get_or_create(&pl).set(s.replica.last_index.0.saturating_sub(p.match_index.0) as i64);
        }
    }
}

/// Serves `/metrics` for `nodes` on `addr` (an HTTP thread), refreshing
/// the gauges every second on `runtime`; `slots` are the process's clients.
pub fn serve(
    addr: SocketAddr,
    nodes: Vec<NodeHandle>,
    slots: Arc<ClientSlots>,
    runtime: Arc<dyn Runtime>,
) -> std::io::Result<()> {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let registry = Arc::new(registry);
    let m = metrics.clone();
    let rt = runtime.clone();
    runtime.spawn(Box::pin(async move {
        loop {
            for n in &nodes {
                m.refresh(n).await;
            }
            m.clients.set(slots.in_use() as i64);
            m.max_clients.set(slots.max() as i64);
            rt.sleep_until(rt.now() + Duration::from_secs(1)).await;
        }
    }));
    let server = tiny_http::Server::http(addr).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new().name("synod-metrics".into()).spawn(move || {
        for req in server.incoming_requests() {
            let mut body = String::new();
            let response = if req.url() == "/metrics" && encode(&mut body, &registry).is_ok() {
                tiny_http::Response::from_string(body).with_header(
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain; version=0.0.4"[..])
                        .expect("static header"),
                )
            } else {
                tiny_http::Response::from_string("not found").with_status_code(404)
            };
            let _ = req.respond(response);
        }
    })?;
    Ok(())
}
