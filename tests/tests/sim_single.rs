//! Single-decree Paxos under the compact simulator, inside `cargo test`:
//! a bounded campaign must hold every property, and both canaries must be
//! caught. The 10,000-seed campaign is
//! `cargo run --release -p synod-tests --bin sim_single -- --seeds 0..10000`.

use synod_tests::sim_single::{self, SimConfig};

#[test]
fn single_decree_paxos_holds_every_property_across_seeds() {
    let cfg = SimConfig::default();
    let (mut nacks, mut crashes, mut learned) = (0, 0, 0);
    for seed in 0..3000 {
        let r = sim_single::run(seed, &cfg);
        assert!(r.violation.is_none(), "seed {seed}: {:?}", r.violation);
        assert_eq!(r.stats.learned, r.nodes as u64, "seed {seed}: every node learned");
        nacks += r.stats.nacks;
        crashes += r.stats.crashes;
        learned += r.stats.learned;
    }
    assert!(nacks > 500 && crashes > 1000, "the campaign duelled ({nacks} nacks) and crashed ({crashes})");
    assert!(learned >= 3000 * 3);
}

#[test]
fn acknowledging_writes_before_they_are_durable_is_caught() {
    let cfg = SimConfig { canary_eager_ack: true, ..SimConfig::default() };
    let caught =
        (0..50).filter(|s| sim_single::run(*s, &cfg).violation.is_some_and(|(p, _)| p == "persist before reply"));
    assert!(caught.count() > 40);
}

#[test]
fn nodes_that_forget_their_disk_break_agreement_and_are_caught() {
    let cfg = SimConfig { canary_amnesia: true, ..SimConfig::default() };
    let caught = (0..300).filter(|s| sim_single::run(*s, &cfg).violation.is_some_and(|(p, _)| p == "agreement"));
    assert!(caught.count() > 20);
}

#[test]
fn a_seed_replays_bit_for_bit() {
    let cfg = SimConfig { trace: true, ..SimConfig::default() };
    let (a, b) = (sim_single::run(42, &cfg), sim_single::run(42, &cfg));
    assert_eq!(a.trace, b.trace);
    assert!(a.trace.len() > 20);
    assert_ne!(a.trace, sim_single::run(43, &cfg).trace);
}
