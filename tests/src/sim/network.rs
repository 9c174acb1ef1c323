//! The seeded network: per-message drop, duplication and delay drawn from
//! distributions (so messages reorder), and directed links that can be cut.

use std::collections::BTreeSet;
use synod_core::rand::Rng;

/// How the network behaves right now.
#[derive(Clone, Debug)]
pub struct Conditions {
    /// Probability a message is lost.
    pub drop: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Minimum one-way latency, ns.
    pub base_delay: u64,
    /// Mean of the exponential jitter added to it, ns.
    pub mean_jitter: u64,
    /// Probability of a long stall (20x the jitter), which reorders hard.
    pub spike: f64,
}

impl Conditions {
    /// A healthy LAN.
    pub fn calm() -> Self {
        Conditions { drop: 0.0, duplicate: 0.0, base_delay: 100_000, mean_jitter: 200_000, spike: 0.0 }
    }

    /// Random rough weather.
    pub fn rough(rng: &mut Rng) -> Self {
        Conditions {
            drop: rng.unit_f64() * 0.15,
            duplicate: rng.unit_f64() * 0.05,
            base_delay: rng.range(50_000, 2_000_000),
            mean_jitter: rng.range(100_000, 5_000_000),
            spike: rng.unit_f64() * 0.02,
        }
    }
}

/// Links and conditions.
#[derive(Debug)]
pub struct Network {
    /// Current conditions.
    pub cond: Conditions,
    /// Directed links that lose everything: (from, to) by node position.
    pub cut: BTreeSet<(usize, usize)>,
}

impl Network {
    /// A healthy network.
    pub fn new() -> Self {
        Network { cond: Conditions::calm(), cut: BTreeSet::new() }
    }

    /// Delivery delays for one message: empty if lost, two if duplicated.
    pub fn fate(&self, from: usize, to: usize, rng: &mut Rng) -> Vec<u64> {
        let mut out = Vec::new();
        if self.cut.contains(&(from, to)) || rng.chance(self.cond.drop) {
            return out;
        }
        out.push(self.delay(rng));
        if rng.chance(self.cond.duplicate) {
            out.push(self.delay(rng));
        }
        out
    }

    fn delay(&self, rng: &mut Rng) -> u64 {
        // Exponential jitter by inversion; -ln(u) with u in (0, 1].
        let u = 1.0 - rng.unit_f64();
        let mut jitter = (-(u.ln()) * self.cond.mean_jitter as f64) as u64;
        if rng.chance(self.cond.spike) {
            jitter = jitter.saturating_mul(20);
        }
        self.cond.base_delay + jitter
    }

    /// Cuts both directions between every node of `a` and every node of `b`.
    pub fn split(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}
