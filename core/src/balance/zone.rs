//! Zone-aware picking: stay in the local zone while it is healthy.
//!
//! Cross-zone traffic costs latency and money, so Envoy's zone-aware
//! routing keeps requests in the caller's zone and spills over only when
//! the local zone is short of healthy nodes; spilled requests go to zones in
//! proportion to their healthy nodes (Envoy's locality-weighted balancing
//! with its "panic threshold" idea applied to the local zone).

use alloc::vec::Vec;

use super::{Balancer, BuildError, Outcome};
use crate::id::{NodeId, ZoneId};
use crate::rand::Rng;
use crate::time::Instant;

/// One zone: its nodes and the balancer that picks among them.
#[derive(Clone, Debug)]
pub struct Zone<B> {
    /// The zone.
    pub id: ZoneId,
    /// Its nodes; `balancer` must balance over exactly these.
    pub nodes: Vec<NodeId>,
    /// Picks within the zone.
    pub balancer: B,
}

/// A balancer per zone; picks from the local zone while at least
/// `min_local_available` of its nodes are up, otherwise from any zone in
/// proportion to its available nodes.
#[derive(Clone, Debug)]
pub struct ZoneAware<B> {
    zones: Vec<Zone<B>>,
    local: usize,
    min_local_available: f64,
    /// `(node, zone index, up)`, sorted by node.
    nodes: Vec<(NodeId, u32, bool)>,
    /// Available nodes per zone.
    up: Vec<usize>,
}

impl<B: Balancer> ZoneAware<B> {
    /// Zone-aware picking from `local` over `zones`; `min_local_available`
    /// is a fraction in [0, 1] (Envoy's default panic threshold is 0.5).
    pub fn new(local: ZoneId, zones: Vec<Zone<B>>, min_local_available: f64) -> Result<Self, BuildError> {
        if !(0.0..=1.0).contains(&min_local_available) {
            return Err(BuildError::InvalidConfig("min_local_available must be in [0, 1]"));
        }
        let mut nodes = Vec::new();
        for (z, zone) in zones.iter().enumerate() {
            if zone.nodes.is_empty() {
                return Err(BuildError::Empty);
            }
            if zones[..z].iter().any(|other| other.id == zone.id) {
                return Err(BuildError::InvalidConfig("a zone appears twice"));
            }
            nodes.extend(zone.nodes.iter().map(|&n| (n, z as u32, true)));
        }
        if nodes.is_empty() {
            return Err(BuildError::Empty);
        }
        nodes.sort_unstable_by_key(|e| e.0);
        if let Some(w) = nodes.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(BuildError::DuplicateNode(w[0].0));
        }
        let local =
            zones.iter().position(|z| z.id == local).ok_or(BuildError::InvalidConfig("local zone not listed"))?;
        let up = zones.iter().map(|z| z.nodes.len()).collect();
        Ok(ZoneAware { zones, local, min_local_available, nodes, up })
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone<B>] {
        &self.zones
    }

    fn entry(&self, node: NodeId) -> Option<usize> {
        self.nodes.binary_search_by_key(&node, |e| e.0).ok()
    }

    /// A zone drawn in proportion to its available nodes.
    fn spill_zone(&self, rng: &mut Rng) -> Option<usize> {
        let total: usize = self.up.iter().sum();
        if total == 0 {
            return None;
        }
        let mut draw = rng.below(total as u64) as usize;
        for (z, &up) in self.up.iter().enumerate() {
            if draw < up {
                return Some(z);
            }
            draw -= up;
        }
        None
    }
}

impl<B: Balancer> Balancer for ZoneAware<B> {
    fn pick(&mut self, now: Instant, rng: &mut Rng) -> Option<NodeId> {
        let local_total = self.zones[self.local].nodes.len() as f64;
        let local_up = self.up[self.local];
        if local_up > 0
            && local_up as f64 >= self.min_local_available * local_total
            && let Some(n) = self.zones[self.local].balancer.pick(now, rng)
        {
            return Some(n);
        }
        let first = self.spill_zone(rng)?;
        // The drawn zone first; the others if its balancer has nothing.
        let count = self.zones.len();
        (0..count).find_map(|k| self.zones[(first + k) % count].balancer.pick(now, rng))
    }

    fn report(&mut self, node: NodeId, now: Instant, outcome: Outcome) {
        if let Some(e) = self.entry(node) {
            let z = self.nodes[e].1 as usize;
            self.zones[z].balancer.report(node, now, outcome);
        }
    }

    fn set_available(&mut self, node: NodeId, available: bool) {
        let Some(e) = self.entry(node) else { return };
        let (_, z, was) = self.nodes[e];
        let z = z as usize;
        if was != available {
            self.nodes[e].2 = available;
            if available { self.up[z] += 1 } else { self.up[z] -= 1 }
        }
        self.zones[z].balancer.set_available(node, available);
    }
}
