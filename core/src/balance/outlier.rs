//! Outlier ejection: stop sending to nodes that fail.
//!
//! Envoy's outlier detection (`source/common/upstream/outlier_detection_impl.cc`):
//! a node is ejected after `consecutive_failures` failures in a row, or when
//! at the end of an interval its success rate falls below
//! mean − factor × stddev of the rates of all nodes with enough requests.
//! An ejection lasts `base_ejection × k` (k = how often the node was ejected
//! recently, capped at `max_ejection`), and never more than
//! `max_ejected_percent` of nodes are out at once (at least one may be).

use alloc::vec::Vec;

use super::members::Members;
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// Outlier detection settings; the defaults are Envoy's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierConfig {
    /// Failures in a row that eject a node; 0 turns this check off.
    pub consecutive_failures: u32,
    /// How often success rates are compared and ejection counts decay.
    pub interval: Duration,
    /// The first ejection's length; the k-th recent one lasts k times this.
    pub base_ejection: Duration,
    /// The longest ejection.
    pub max_ejection: Duration,
    /// At most this share of nodes is ejected at once (at least one may be).
    pub max_ejected_percent: u32,
    /// Success rates are compared only among at least this many nodes
    /// with enough requests; 0 turns this check off.
    pub success_rate_min_hosts: u32,
    /// Requests in an interval for a node's success rate to count.
    pub success_rate_request_volume: u64,
    /// Ejected below mean − factor × stddev.
    pub success_rate_stdev_factor: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            interval: Duration::from_secs(10),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_percent: 10,
            success_rate_min_hosts: 5,
            success_rate_request_volume: 100,
            success_rate_stdev_factor: 1.9,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    consecutive_failures: u32,
    requests: u64,
    successes: u64,
    /// Recent ejections: the multiplier of the next ejection's length.
    ejections: u32,
    ejected_until: Option<Instant>,
    /// What the caller last said through `set_available`.
    down: bool,
    /// In since the last interval closed, so the interval counts as quiet.
    in_all_interval: bool,
}

/// Wraps a balancer and hides the nodes that fail from it.
#[derive(Clone, Debug)]
pub struct OutlierEjection<B> {
    inner: B,
    config: OutlierConfig,
    members: Members,
    health: Vec<Health>,
    next_interval: Instant,
    /// The earliest end of a current ejection: picks scan nodes only then.
    next_return: Instant,
}

impl<B: Balancer> OutlierEjection<B> {
    /// Outlier ejection over `inner`, which balances over `nodes`; `now`
    /// starts the first interval.
    pub fn new(inner: B, nodes: &[NodeId], config: OutlierConfig, now: Instant) -> Result<Self, BuildError> {
        if config.interval.is_zero() {
            return Err(BuildError::InvalidConfig("interval must be positive"));
        }
        if config.max_ejected_percent > 100 {
            return Err(BuildError::InvalidConfig("max_ejected_percent above 100"));
        }
        if !(config.success_rate_stdev_factor.is_finite() && config.success_rate_stdev_factor >= 0.0) {
            return Err(BuildError::InvalidConfig("success_rate_stdev_factor must be finite and non-negative"));
        }
        let members = Members::new(nodes)?;
        Ok(OutlierEjection {
            inner,
            config,
            health: alloc::vec![Health { in_all_interval: true, ..Health::default() }; members.len()],
            members,
            next_interval: now + config.interval,
            next_return: Instant::MAX,
        })
    }

    /// Whether `node` is ejected at `now`.
    pub fn is_ejected(&self, node: NodeId, now: Instant) -> bool {
        self.members.index(node).is_some_and(|i| self.health[i].ejected_until.is_some_and(|t| now < t))
    }

    /// The wrapped balancer.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn ejected_count(&self) -> usize {
        self.health.iter().filter(|h| h.ejected_until.is_some()).count()
    }

    fn eject(&mut self, i: usize, now: Instant) {
        let n = self.members.len();
        let cap = (n * self.config.max_ejected_percent as usize / 100).max(1);
        if self.health[i].ejected_until.is_some() || self.ejected_count() >= cap {
            return;
        }
        let h = &mut self.health[i];
        h.ejections = h.ejections.saturating_add(1);
        let length = self
            .config
            .base_ejection
            .saturating_mul(h.ejections)
            .min(self.config.max_ejection.max(self.config.base_ejection));
        h.ejected_until = Some(now + length);
        h.consecutive_failures = 0;
        h.in_all_interval = false;
        self.next_return = self.next_return.min(now + length);
        self.inner.set_available(self.members.id(i), false);
    }

    /// Returns ejected nodes whose time is up, and closes finished intervals.
    fn advance(&mut self, now: Instant) {
        if now >= self.next_return {
            self.next_return = Instant::MAX;
            for i in 0..self.health.len() {
                let h = &mut self.health[i];
                match h.ejected_until {
                    Some(t) if now >= t => {
                        h.ejected_until = None;
                        let up = !h.down;
                        self.inner.set_available(self.members.id(i), up);
                    }
                    Some(t) => self.next_return = self.next_return.min(t),
                    None => {}
                }
            }
        }
        if now >= self.next_interval {
            self.success_rate_pass(now);
            for h in &mut self.health {
                if h.ejected_until.is_none() && h.in_all_interval {
                    // A whole interval in service shortens the next ejection (Envoy).
                    h.ejections = h.ejections.saturating_sub(1);
                }
                h.in_all_interval = h.ejected_until.is_none();
                (h.requests, h.successes) = (0, 0);
            }
            self.next_interval = now + self.config.interval;
        }
    }

    fn success_rate_pass(&mut self, now: Instant) {
        let volume = self.config.success_rate_request_volume.max(1);
        let rates: Vec<(usize, f64)> = (0..self.health.len())
            .filter(|&i| self.health[i].ejected_until.is_none() && self.health[i].requests >= volume)
            .map(|i| (i, self.health[i].successes as f64 / self.health[i].requests as f64))
            .collect();
        let min_hosts = self.config.success_rate_min_hosts as usize;
        if min_hosts == 0 || rates.len() < min_hosts {
            return;
        }
        let count = rates.len() as f64;
        let mean = rates.iter().map(|r| r.1).sum::<f64>() / count;
        let variance = rates.iter().map(|r| (r.1 - mean) * (r.1 - mean)).sum::<f64>() / count;
        let threshold = mean - self.config.success_rate_stdev_factor * libm::sqrt(variance);
        for (i, rate) in rates {
            if rate < threshold {
                self.eject(i, now);
            }
        }
    }
}

impl<B: Balancer> Balancer for OutlierEjection<B> {
    fn pick(&mut self, now: Instant, rng: &mut Rng) -> Option<NodeId> {
        self.advance(now);
        self.inner.pick(now, rng)
    }

    fn report(&mut self, node: NodeId, now: Instant, outcome: Outcome) {
        self.inner.report(node, now, outcome);
        if let Some(i) = self.members.index(node) {
            let h = &mut self.health[i];
            h.requests += 1;
            if outcome.success {
                h.successes += 1;
                h.consecutive_failures = 0;
            } else {
                h.consecutive_failures = h.consecutive_failures.saturating_add(1);
                let limit = self.config.consecutive_failures;
                if limit > 0 && h.consecutive_failures >= limit {
                    self.eject(i, now);
                }
            }
        }
        self.advance(now);
    }

    fn set_available(&mut self, node: NodeId, available: bool) {
        let Some(i) = self.members.index(node) else { return };
        self.health[i].down = !available;
        if self.health[i].ejected_until.is_none() {
            self.inner.set_available(node, available);
        }
    }
}
