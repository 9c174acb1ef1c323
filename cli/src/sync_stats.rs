//! How long each node's group commits take to write and `fdatasync`: a
//! histogram for the metrics page, a counter of slow ones, and a warning
//! in the log when one passes a second (etcd's "slow fdatasync" line).

use core::sync::atomic::{AtomicU64, Ordering};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::time::Duration;
use synod_net::node::SyncObserver;

type Labels = Vec<(String, String)>;

/// A group commit slower than this is logged: past it, a leader's
/// heartbeats and a follower's acknowledgements start to miss election
/// timeouts.
pub const SLOW_SYNC: Duration = Duration::from_secs(1);

/// At most one warning this often, however sick the disk.
const WARN_EVERY_MS: u64 = 10_000;

/// Buckets in seconds: 100 µs to 8 s.
const BUCKETS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 2.0, 8.0];

/// The process's figures, shared by its nodes.
pub struct SyncStats {
    latency: Family<Labels, Histogram>,
    slow: Family<Labels, Counter>,
    /// Milliseconds since the process started, at the last warning.
    last_warned: AtomicU64,
    started: std::time::Instant,
}

impl Default for SyncStats {
    fn default() -> SyncStats {
        SyncStats {
            latency: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            slow: Family::default(),
            last_warned: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }
}

impl SyncStats {
    /// What node `id`'s storage task reports to.
    pub fn observer(self: &Arc<Self>, id: NodeId) -> SyncObserver {
        // Both series exist from the start: a counter at 0, not absent.
        let l = vec![("node".to_string(), id.to_string())];
        drop(self.latency.get_or_create(&l));
        drop(self.slow.get_or_create(&l));
        let stats = self.clone();
        SyncObserver(Arc::new(move |took, batches| stats.record(id, &l, took, batches)))
    }

    fn record(&self, id: NodeId, l: &Labels, took: Duration, batches: usize) {
        self.latency.get_or_create(l).observe(took.as_secs_f64());
        if took < SLOW_SYNC {
            return;
        }
        self.slow.get_or_create(l).inc();
        let now = self.started.elapsed().as_millis() as u64 + WARN_EVERY_MS;
        let last = self.last_warned.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_MS
            && self.last_warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                node = %id,
                took_ms = took.as_millis() as u64,
                batches,
                slow_so_far = self.slow.get_or_create(l).get(),
                "slow disk: a group commit took over {} ms to write and sync; \
                 heartbeats and acknowledgements wait on it (synod_log_sync_seconds)",
                SLOW_SYNC.as_millis()
            );
        }
    }

    /// Adds the figures to `r`.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "synod_log_sync_seconds",
            "Time to write and fdatasync one group commit of the log",
            self.latency.clone(),
        );
        r.register(
            "synod_log_slow_syncs",
            "Group commits that took a second or more (each also logged, at most every 10 s)",
            self.slow.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_land_in_the_histogram_and_slow_ones_are_counted() {
        let stats = Arc::new(SyncStats::default());
        let observe = stats.observer(NodeId(2));
        (observe.0)(Duration::from_micros(300), 4);
        (observe.0)(Duration::from_millis(3), 1);
        (observe.0)(Duration::from_millis(1500), 9);
        (observe.0)(Duration::from_secs(2), 9);
        let mut r = Registry::default();
        stats.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains(r#"synod_log_sync_seconds_count{node="2"} 4"#), "{text}");
        assert!(text.contains(r#"synod_log_sync_seconds_bucket{le="0.0005",node="2"} 1"#), "{text}");
        assert!(text.contains(r#"synod_log_slow_syncs_total{node="2"} 2"#), "{text}");
    }
}
