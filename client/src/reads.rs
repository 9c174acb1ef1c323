//! Reads spread over every node (`Reads::Spread`): each read goes to the
//! node core's peak-EWMA balancer picks (two random nodes, the one with
//! the lower latency × load, as Finagle does), over a connection that
//! said `READONLY`, so the node serves it from its own state once the
//! leader has confirmed the index to wait for — still linearizable (Raft
//! thesis §6.4), with the work off the leader. Nodes that fail reads in a
//! row are ejected for a while by core's outlier ejection (as Envoy
//! does), and a background task pings every endpoint each
//! [`Config::probe_interval`](crate::Config::probe_interval) to feed one
//! φ-accrual detector per endpoint (core's `detect::PhiAccrual`, as Akka
//! and Cassandra judge nodes): an endpoint it suspects gets no reads until
//! it answers again. A read that no node answers falls back to the
//! client's main connection.

use crate::client::{Verdict, classify};
use crate::conn::Conn;
use crate::{Client, Config, Error};
use bytes::Bytes;
use futures::future::{Either, join_all, select};
use futures::lock::Mutex;
use redis_protocol::resp2::types::BytesFrame;
use std::sync::Arc;
use synod_core::balance::{Balancer, Outcome, OutlierConfig, OutlierEjection, PeakEwma, PeakEwmaConfig};
use synod_core::detect::{PhiAccrual, PhiConfig};
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::time::Instant;
use synod_net::runtime::Runtime;
use synod_net::stream::Connector;

/// Where the client sends reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reads {
    /// Through the client's one connection, answered by the leader.
    #[default]
    Leader,
    /// Spread over every endpoint by the balancer, each served by the
    /// node it reaches after a read-index round (still linearizable).
    Spread,
}

/// The read connections and the balancer over them.
pub(crate) struct Spread {
    slots: Vec<Mutex<Option<Conn>>>,
    /// One detector per endpoint, fed by the probe task.
    phi: std::sync::Mutex<Vec<PhiAccrual>>,
    lb: std::sync::Mutex<(OutlierEjection<PeakEwma>, Rng)>,
    /// Reads each endpoint answered.
    pub(crate) served: Vec<core::sync::atomic::AtomicU64>,
}

impl Spread {
    pub(crate) fn new(endpoints: usize, seed: u64, now: Instant) -> Spread {
        let nodes: Vec<NodeId> = (1..=endpoints as u64).map(NodeId).collect();
        let ewma = PeakEwma::new(&nodes, PeakEwmaConfig::default(), now).expect("endpoints are distinct and present");
        // Eject after 3 failures in a row, for 5 s at first: a client's
        // endpoints are few, and a dead one should stop costing reads fast.
        let cfg = OutlierConfig {
            consecutive_failures: 3,
            base_ejection: core::time::Duration::from_secs(5),
            max_ejection: core::time::Duration::from_secs(60),
            max_ejected_percent: 50,
            ..OutlierConfig::default()
        };
        let lb = OutlierEjection::new(ewma, &nodes, cfg, now).expect("a valid outlier configuration");
        let detector = PhiAccrual::new(PhiConfig::default()).expect("the default φ configuration is valid");
        Spread {
            slots: (0..endpoints).map(|_| Mutex::new(None)).collect(),
            phi: std::sync::Mutex::new(vec![detector; endpoints]),
            lb: std::sync::Mutex::new((lb, Rng::with_seed(seed ^ 0x5eed))),
            served: (0..endpoints).map(|_| Default::default()).collect(),
        }
    }

    fn pick(&self, now: Instant) -> Option<usize> {
        let suspected = self.suspected(now);
        let mut g = self.lb.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (lb, rng) = &mut *g;
        for (i, s) in suspected.into_iter().enumerate() {
            lb.set_available(NodeId(i as u64 + 1), !s);
        }
        lb.pick(now, rng).map(|n| n.0 as usize - 1)
    }

    /// Which endpoints the detectors suspect at `now`.
    pub(crate) fn suspected(&self, now: Instant) -> Vec<bool> {
        let phi = self.phi.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        phi.iter().map(|d| !d.is_available(now)).collect()
    }

    fn heartbeat(&self, i: usize, now: Instant) {
        let mut phi = self.phi.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        phi[i].heartbeat(now);
    }

    fn report(&self, i: usize, now: Instant, outcome: Outcome) {
        let mut g = self.lb.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0.report(NodeId(i as u64 + 1), now, outcome);
    }
}

impl Client {
    /// A read through the balancer: up to one try per endpoint, then the
    /// main connection.
    pub(crate) async fn spread_read(&self, spread: &Spread, args: &[Bytes]) -> Result<BytesFrame, Error> {
        for _ in 0..spread.slots.len() {
            let Some(i) = spread.pick(self.runtime.now()) else { break };
            let started = self.runtime.now();
            let result = self.read_at(spread, i, args).await;
            let now = self.runtime.now();
            let latency = now.saturating_duration_since(started);
            // A refusal is an answer the node served; a retryable error is
            // the node failing the read.
            let answer = match result.map(classify) {
                Ok(Verdict::Answer(frame)) => Ok(frame),
                Ok(Verdict::Refused(why)) => Err(Error::Refused(why)),
                Ok(Verdict::Retry { .. } | Verdict::SessionGone) | Err(_) => {
                    spread.report(i, now, Outcome::failure(latency));
                    continue;
                }
            };
            spread.report(i, now, Outcome::success(latency));
            spread.served[i].fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            return answer;
        }
        self.read_leader(args.to_vec()).await
    }

    /// One read on endpoint `i`'s read connection (made, authenticated and
    /// switched to `READONLY` if need be), within the attempt timeout. A
    /// failed read drops the connection.
    async fn read_at(&self, spread: &Spread, i: usize, args: &[Bytes]) -> Result<BytesFrame, String> {
        let mut slot = spread.slots[i].lock().await;
        let until = self.runtime.now() + self.cfg.attempt_timeout;
        let result = self
            .timed(until, async {
                if slot.is_none() {
                    let mut conn = self.connect(self.cfg.endpoints[i].clone()).await?;
                    match conn.call(&[Bytes::from_static(b"READONLY")]).await.map_err(|e| e.to_string())? {
                        BytesFrame::SimpleString(_) => {}
                        other => return Err(format!("READONLY refused: {other:?}")),
                    }
                    *slot = Some(conn);
                }
                let conn = slot.as_mut().expect("connected above");
                conn.call(args).await.map_err(|e| e.to_string())
            })
            .await;
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

/// Pings every endpoint each probe interval, all at once, each within the
/// interval, and feeds the detectors; ends once the client is gone (the
/// task holds the last reference to `spread`).
pub(crate) async fn probe(spread: Arc<Spread>, cfg: Config, runtime: Arc<dyn Runtime>, connector: Arc<dyn Connector>) {
    let mut conns: Vec<Option<Conn>> = (0..cfg.endpoints.len()).map(|_| None).collect();
    loop {
        if Arc::strong_count(&spread) <= 1 {
            return;
        }
        let start = runtime.now();
        let until = start + cfg.probe_interval;
        let pings = conns.iter_mut().enumerate().map(|(i, slot)| {
            let (runtime, connector, cfg, spread) = (&runtime, &connector, &cfg, &spread);
            async move {
                let ping = async {
                    if slot.is_none() {
                        *slot = Some(crate::client::dial(connector.as_ref(), cfg, cfg.endpoints[i].clone()).await?);
                    }
                    let conn = slot.as_mut().expect("connected above");
                    conn.call(&[Bytes::from_static(b"PING")]).await.map_err(|e| e.to_string())
                };
                let answered = {
                    let ping = core::pin::pin!(ping);
                    let reply = select(ping, runtime.sleep_until(until)).await;
                    matches!(reply, Either::Left((Ok(BytesFrame::SimpleString(_)), _)))
                };
                match answered {
                    true => spread.heartbeat(i, runtime.now()),
                    false => *slot = None,
                }
            }
        });
        join_all(pings).await;
        runtime.sleep_until(until).await;
    }
}
