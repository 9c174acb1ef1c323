//! The network emulator every harness shares (str0m's `netem` habit): the
//! Raft and Multi-Paxos simulator, the single-decree simulator and the
//! fuzz-driven cluster all put their messages through it.
//!
//! [`Network`] decides each message's fate from a seeded generator —
//! dropped, delivered once or twice, after a delay drawn from a
//! distribution (so messages reorder) — and holds the directed links that
//! are cut. [`Wire`] is the in-flight list for a harness that schedules
//! delivery itself (the fuzzer picks which message goes next); it obeys
//! the same cuts.

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

/// Messages in flight, for a harness that chooses the delivery order
/// itself; sends over a cut link are lost, as on a [`Network`].
#[derive(Debug)]
pub struct Wire<M> {
    in_flight: Vec<(usize, usize, M)>,
}

impl<M: Clone> Wire<M> {
    /// Nothing in flight.
    pub fn new() -> Self {
        Wire { in_flight: Vec::new() }
    }

    /// Sends `msg` from `from` to `to` over `net`'s links.
    pub fn send(&mut self, net: &Network, from: usize, to: usize, msg: M) {
        if !net.cut.contains(&(from, to)) {
            self.in_flight.push((from, to, msg));
        }
    }

    /// True if nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Takes message `pick` (modulo the number in flight) for delivery.
    pub fn take(&mut self, pick: usize) -> Option<(usize, usize, M)> {
        let n = self.in_flight.len();
        (n > 0).then(|| self.in_flight.remove(pick % n))
    }

    /// A copy of message `pick`, left in flight: it will arrive twice.
    pub fn copy(&self, pick: usize) -> Option<(usize, usize, M)> {
        let n = self.in_flight.len();
        (n > 0).then(|| self.in_flight[pick % n].clone())
    }

    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Loses the `n` oldest messages in flight.
    pub fn lose_oldest(&mut self, n: usize) {
        self.in_flight.drain(..n.min(self.in_flight.len()));
    }

    /// Loses every message to `node` (its process died with its
    /// connections).
    pub fn lose_to(&mut self, node: usize) {
        self.in_flight.retain(|(_, to, _)| *to != node);
    }

    /// Loses every message in flight on a link that is now cut.
    pub fn apply_cuts(&mut self, net: &Network) {
        self.in_flight.retain(|(from, to, _)| !net.cut.contains(&(*from, *to)));
    }
}

impl<M: Clone> Default for Wire<M> {
    fn default() -> Self {
        Wire::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_link_loses_everything_and_heals() {
        let mut net = Network::new();
        let mut rng = Rng::with_seed(7);
        net.split(&[0], &[1, 2]);
        assert!(net.fate(0, 1, &mut rng).is_empty() && net.fate(2, 0, &mut rng).is_empty());
        assert!(!net.fate(1, 2, &mut rng).is_empty(), "links within a side stay up");
        let mut wire = Wire::new();
        wire.send(&net, 0, 1, "lost");
        wire.send(&net, 1, 2, "kept");
        assert_eq!(wire.take(0), Some((1, 2, "kept")));
        net.heal();
        assert!(!net.fate(0, 1, &mut rng).is_empty());
    }

    #[test]
    fn rough_weather_drops_duplicates_and_reorders() {
        let mut rng = Rng::with_seed(1);
        let mut net = Network::new();
        net.cond = Conditions { drop: 0.2, duplicate: 0.2, base_delay: 1_000, mean_jitter: 1_000_000, spike: 0.0 };
        let fates: Vec<Vec<u64>> = (0..2_000).map(|_| net.fate(0, 1, &mut rng)).collect();
        let lost = fates.iter().filter(|f| f.is_empty()).count();
        let twice = fates.iter().filter(|f| f.len() == 2).count();
        assert!((300..500).contains(&lost), "{lost} of 2000 lost at 20%");
        assert!((250..450).contains(&twice), "{twice} of 2000 doubled at 20% of 80%");
        let delays: Vec<u64> = fates.iter().filter_map(|f| f.first().copied()).collect();
        assert!(delays.windows(2).any(|w| w[0] > w[1]), "later sends can arrive first");
    }
}
