//! Phi-accrual suspicion of each peer (Hayashibara et al., 2004), fed by
//! the times the leader last heard from them, for `synod status`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use synod_core::detect::{PhiAccrual, PhiConfig};
use synod_core::id::NodeId;
use synod_core::time::{Duration, Instant};
use synod_net::node::NodeHandle;
use synod_net::runtime::Runtime;

/// Per-peer failure detectors.
#[derive(Default)]
pub struct Suspicion {
    detectors: Mutex<BTreeMap<NodeId, PhiAccrual>>,
}

impl Suspicion {
    /// Starts sampling `node`'s view of its peers every `every`.
    pub fn watch(node: NodeHandle, runtime: Arc<dyn Runtime>, every: Duration) -> Arc<Suspicion> {
        let s = Arc::new(Suspicion::default());
        let me = s.clone();
        let rt = runtime.clone();
        runtime.spawn(Box::pin(async move {
            loop {
                if let Ok(status) = node.status().await {
                    let mut d = me.detectors.lock().unwrap_or_else(|e| e.into_inner());
                    for p in &status.peers {
                        let Some(heard) = p.last_heard else { continue };
                        let det = d.entry(p.id).or_insert_with(|| {
                            PhiAccrual::new(PhiConfig::default()).expect("the default configuration is valid")
                        });
                        if det.last_heartbeat() != Some(heard) {
                            det.heartbeat(heard);
                        }
                    }
                }
                rt.sleep_until(rt.now() + every).await;
            }
        }));
        s
    }

    /// φ for `peer` at `now`, if it was ever heard from.
    pub fn phi(&self, peer: NodeId, now: Instant) -> Option<f64> {
        let d = self.detectors.lock().unwrap_or_else(|e| e.into_inner());
        d.get(&peer).filter(|det| det.last_heartbeat().is_some()).map(|det| det.phi(now))
    }
}
