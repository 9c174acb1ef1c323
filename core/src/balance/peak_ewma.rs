//! Peak-EWMA: two random choices by latency × load.
//!
//! Finagle's `PeakEwma` load metric (Twitter, 2016; also tower's
//! `load::PeakEwma`): a node's latency estimate jumps up to any slower
//! response at once (the peak) and decays back towards faster ones with
//! weight e^(-Δt/τ), so a node that suddenly slows down is avoided
//! immediately and trusted again only gradually. The estimate also decays
//! while a node is idle, so an avoided node is eventually retried. Cost is
//! estimate × (in flight + 1), and the pick is the cheaper of two random
//! nodes (Mitzenmacher), as in Finagle's `Balancers.p2cPeakEwma`.

use alloc::vec::Vec;

use super::members::{Members, two_distinct};
use super::{Balancer, BuildError, Outcome};
use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::{Duration, Instant, duration_nanos};

/// Peak-EWMA settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakEwmaConfig {
    /// The estimate of a node that has not answered yet.
    pub default_rtt: Duration,
    /// τ: how fast the estimate forgets (Finagle's default is 10 s).
    pub decay: Duration,
}

impl Default for PeakEwmaConfig {
    fn default() -> Self {
        PeakEwmaConfig { default_rtt: Duration::from_millis(30), decay: Duration::from_secs(10) }
    }
}

#[derive(Clone, Copy, Debug)]
struct Estimate {
    rtt_ns: f64,
    at: Instant,
    in_flight: u64,
}

/// Power-of-two-choices over peak-EWMA latency × in-flight requests.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    members: Members,
    estimates: Vec<Estimate>,
    decay_ns: f64,
}

impl PeakEwma {
    /// Peak-EWMA over `nodes`; `now` starts every estimate's clock.
    pub fn new(nodes: &[NodeId], config: PeakEwmaConfig, now: Instant) -> Result<Self, BuildError> {
        if config.decay.is_zero() {
            return Err(BuildError::InvalidConfig("decay must be positive"));
        }
        let members = Members::new(nodes)?;
        let start = Estimate { rtt_ns: duration_nanos(config.default_rtt) as f64, at: now, in_flight: 0 };
        Ok(PeakEwma {
            members,
            estimates: alloc::vec![start; nodes.len()],
            decay_ns: duration_nanos(config.decay) as f64,
        })
    }

    /// `node`'s latency estimate at `now`, decayed for the time since its
    /// last response.
    pub fn estimate(&self, node: NodeId, now: Instant) -> Option<Duration> {
        self.members.index(node).map(|i| Duration::from_nanos(self.decayed(i, now) as u64))
    }

    fn weight(&self, since: Instant, now: Instant) -> f64 {
        libm::exp(-(duration_nanos(now - since) as f64) / self.decay_ns)
    }

    fn decayed(&self, i: usize, now: Instant) -> f64 {
        let e = &self.estimates[i];
        e.rtt_ns * self.weight(e.at, now)
    }

    /// Cost of node `i`; in-flight breaks ties once estimates decay to zero.
    fn cost(&self, i: usize, now: Instant) -> (f64, u64) {
        let pending = self.estimates[i].in_flight;
        (self.decayed(i, now) * (pending + 1) as f64, pending)
    }
}

impl Balancer for PeakEwma {
    fn pick(&mut self, now: Instant, rng: &mut Rng) -> Option<NodeId> {
        let up = self.members.up();
        let chosen = match up.len() {
            0 => return None,
            1 => up[0] as usize,
            n => {
                let (a, b) = two_distinct(rng, n);
                let (a, b) = (up[a] as usize, up[b] as usize);
                let (ca, cb) = (self.cost(a, now), self.cost(b, now));
                if cb.0 < ca.0 || (cb.0 == ca.0 && cb.1 < ca.1) { b } else { a }
            }
        };
        self.estimates[chosen].in_flight += 1;
        Some(self.members.id(chosen))
    }

    fn report(&mut self, node: NodeId, now: Instant, outcome: Outcome) {
        let Some(i) = self.members.index(node) else { return };
        let rtt = duration_nanos(outcome.latency) as f64;
        let w = self.weight(self.estimates[i].at, now);
        let e = &mut self.estimates[i];
        e.in_flight = e.in_flight.saturating_sub(1);
        // Peak: a slower response replaces the estimate at once.
        e.rtt_ns = if rtt > e.rtt_ns { rtt } else { e.rtt_ns * w + rtt * (1.0 - w) };
        e.at = e.at.max(now);
    }

    fn set_available(&mut self, node: NodeId, available: bool) {
        self.members.set_available(node, available);
    }
}
