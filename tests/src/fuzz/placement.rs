//! Hashing, balancing and failure detection under arbitrary sequences:
//! builds from arbitrary node sets, membership changes, lookups, picks and
//! reports. Every answer must name a current (and, for balancers,
//! available) node; nothing may panic.

use arbitrary::{Arbitrary, Unstructured};
use std::collections::BTreeSet;
use synod_core::balance::{
    Balancer, LeastConnections, Outcome, PeakEwma, PeakEwmaConfig, PowerOfTwo, RoundRobin, SmoothWeighted,
};
use synod_core::detect::{PhiAccrual, PhiConfig};
use synod_core::hash::{BoundedLoad, JumpHash, Locate, Maglev, Rendezvous, Ring, Topology, ZonedNode};
use synod_core::id::{NodeId, ZoneId};
use synod_core::rand::Rng;
use synod_core::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Step {
    Insert(u8, u8),
    Remove(u8),
    Lookup(Vec<u8>),
    Pick,
    Report { node: u8, micros: u16, ok: bool },
    Available { node: u8, up: bool },
    Heartbeat(u16),
}

fn node(b: u8) -> NodeId {
    NodeId(u64::from(b % 16))
}

/// Drives every placement, balancer and the phi detector.
pub fn placement(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(initial) = Vec::<(u8, u8)>::arbitrary(&mut u) else { return };
    let weighted: Vec<(NodeId, u32)> = initial.iter().map(|(n, w)| (node(*n), u32::from(*w % 5))).collect();
    let ids: Vec<NodeId> = weighted.iter().map(|(n, _)| *n).collect();
    // Builders refuse bad input (empty, duplicate, zero weight) with errors.
    let mut ring = Ring::new(&weighted, 8).ok();
    let rendezvous = Rendezvous::new(&weighted).ok();
    let maglev = Maglev::new(&ids, 13).ok();
    let mut jump = JumpHash::new(&ids).ok();
    let mut bounded = ring.clone().and_then(|r| BoundedLoad::new(r, 125).ok());
    let zoned: Vec<ZonedNode> =
        weighted.iter().map(|(n, w)| ZonedNode { node: *n, zone: ZoneId(n.0 % 3), weight: *w }).collect();
    let topology = Topology::new(&zoned).ok();
    let mut balancers: Vec<Box<dyn Balancer>> = Vec::new();
    if let Ok(b) = RoundRobin::new(&ids) {
        balancers.push(Box::new(b));
    }
    if let Ok(b) = SmoothWeighted::new(&weighted) {
        balancers.push(Box::new(b));
    }
    if let Ok(b) = LeastConnections::new(&ids) {
        balancers.push(Box::new(b));
    }
    if let Ok(b) = PowerOfTwo::new(&ids) {
        balancers.push(Box::new(b));
    }
    if let Ok(b) = PeakEwma::new(&ids, PeakEwmaConfig::default(), Instant::ZERO) {
        balancers.push(Box::new(b));
    }
    let mut down: BTreeSet<NodeId> = BTreeSet::new();
    let mut members: BTreeSet<NodeId> = ids.iter().copied().collect();
    let mut phi = PhiAccrual::new(PhiConfig::default()).expect("default config");
    let mut now = Instant::ZERO;
    let mut rng = Rng::with_seed(7);
    for _ in 0..256 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        now += Duration::from_millis(1);
        match step {
            Step::Insert(n, w) => {
                if let Some(r) = ring.as_mut()
                    && r.insert(node(n), u32::from(w % 5)).is_ok()
                {
                    members.insert(node(n));
                }
                if let Some(j) = jump.as_mut() {
                    let _ = j.push(node(n));
                }
            }
            Step::Remove(n) => {
                if let Some(r) = ring.as_mut()
                    && r.remove(node(n)).is_ok()
                {
                    members.remove(&node(n));
                }
                if let Some(j) = jump.as_mut() {
                    let _ = j.pop();
                }
            }
            Step::Lookup(key) => {
                if let Some(r) = &ring {
                    assert!(members.contains(&r.locate(&key)), "ring placed a key on a non-member");
                }
                for owner in [rendezvous.as_ref().map(|p| p.locate(&key)), maglev.as_ref().map(|p| p.locate(&key))]
                    .into_iter()
                    .flatten()
                {
                    assert!(ids.contains(&owner));
                }
                if let Some(j) = &jump {
                    let _ = j.locate(&key);
                }
                if let Some(b) = bounded.as_mut() {
                    let n = b.assign(&key);
                    assert!(ids.contains(&n));
                    let _ = b.release(n);
                }
                if let Some(t) = &topology
                    && let Ok(list) = t.preference_list(&key, 3)
                {
                    let nodes: Vec<NodeId> = list.nodes().to_vec();
                    let unique: BTreeSet<NodeId> = nodes.iter().copied().collect();
                    assert_eq!(unique.len(), nodes.len(), "a preference list repeated a node");
                }
            }
            Step::Pick => {
                for b in &mut balancers {
                    if let Some(n) = b.pick(now, &mut rng) {
                        assert!(ids.contains(&n), "picked a stranger");
                        assert!(!down.contains(&n), "picked a node marked unavailable");
                    }
                }
            }
            Step::Report { node: n, micros, ok } => {
                let outcome = Outcome { latency: Duration::from_micros(u64::from(micros)), success: ok };
                for b in &mut balancers {
                    b.report(node(n), now, outcome);
                }
            }
            Step::Available { node: n, up } => {
                if up {
                    down.remove(&node(n));
                } else {
                    down.insert(node(n));
                }
                for b in &mut balancers {
                    b.set_available(node(n), up);
                }
            }
            Step::Heartbeat(ms) => {
                now += Duration::from_millis(u64::from(ms));
                phi.heartbeat(now);
                let p = phi.phi(now + Duration::from_millis(u64::from(ms)));
                assert!(p >= 0.0 && !p.is_nan(), "phi {p}");
            }
        }
    }
}
