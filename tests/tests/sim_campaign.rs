//! The simulator inside `cargo test`: short Raft and Multi-Paxos campaigns
//! must hold every invariant, and a seed must replay bit for bit.

use synod_tests::sim::{self, Protocol, SimConfig};

fn short(protocol: Protocol) -> SimConfig {
    let mut c = SimConfig::new(protocol);
    c.fault_time = core::time::Duration::from_millis(1500);
    c.liveness_time = core::time::Duration::from_millis(1500);
    c
}

#[test]
fn raft_holds_every_invariant_across_seeds() {
    let cfg = short(Protocol::Raft);
    let mut ops = 0;
    for seed in 0..24 {
        let r = sim::run(seed, &cfg);
        assert!(r.violation.is_none(), "seed {seed}: {:?}", r.violation);
        assert!(r.stats.elections > 0 && r.stats.delivered > 0);
        ops += r.stats.ops_ok;
    }
    assert!(ops > 1000, "clients made progress ({ops} ops)");
}

#[test]
fn multi_paxos_holds_every_invariant_across_seeds() {
    let cfg = short(Protocol::MultiPaxos);
    let mut ops = 0;
    for seed in 0..24 {
        let r = sim::run(seed, &cfg);
        assert!(r.violation.is_none(), "seed {seed}: {:?}", r.violation);
        assert!(r.stats.elections > 0 && r.stats.delivered > 0 && r.stats.snapshots > 0);
        ops += r.stats.ops_ok;
    }
    assert!(ops > 1000, "clients made progress ({ops} ops)");
}

#[test]
fn multi_paxos_seeds_replay_bit_for_bit() {
    let cfg = short(Protocol::MultiPaxos);
    let mut a = sim::World::new(11, cfg.clone());
    a.run();
    let mut b = sim::World::new(11, cfg);
    b.run();
    assert_eq!(a.history, b.history);
    assert!(a.history.len() > 100);
}

#[test]
fn a_seed_replays_bit_for_bit() {
    let cfg = short(Protocol::Raft);
    let mut a = sim::World::new(7, cfg.clone());
    a.run();
    let mut b = sim::World::new(7, cfg);
    b.run();
    assert_eq!(a.history, b.history);
    assert_eq!(format!("{:?}", a.report().stats), format!("{:?}", b.report().stats));
    assert!(a.history.len() > 100);
}

#[test]
fn different_seeds_differ() {
    let cfg = short(Protocol::Raft);
    let (a, b) = (sim::run(1, &cfg), sim::run(2, &cfg));
    assert_ne!(format!("{:?}", a.stats), format!("{:?}", b.stats));
}
