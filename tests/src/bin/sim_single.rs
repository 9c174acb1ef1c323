//! Runs single-decree Paxos campaigns: `sim_single --seeds 0..10000`, or
//! replays one seed with its trace: `sim_single --seed 17`. With
//! `--canary-eager-ack --expect-violations` it checks that the simulator
//! catches a node that acknowledges writes before they are durable; with
//! `--canary-amnesia --expect-violations`, nodes that forget their disk.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use synod_tests::sim_single::{self, SimConfig, Stats};

fn main() {
    let mut seeds = 0..1000u64;
    let mut replay = None;
    let mut cfg = SimConfig::default();
    let mut expect = false;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--seeds" => {
                let v = val();
                let (lo, hi) = v.split_once("..").unwrap_or_else(|| usage("--seeds takes LO..HI"));
                seeds = lo.parse().unwrap_or_else(|_| usage("bad LO"))..hi.parse().unwrap_or_else(|_| usage("bad HI"));
            }
            "--seed" => replay = Some(val().parse().unwrap_or_else(|_| usage("bad seed"))),
            "--threads" => threads = val().parse().unwrap_or_else(|_| usage("bad thread count")),
            "--canary-eager-ack" => cfg.canary_eager_ack = true,
            "--canary-amnesia" => cfg.canary_amnesia = true,
            "--expect-violations" => expect = true,
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if let Some(seed) = replay {
        cfg.trace = true;
        let r = sim_single::run(seed, &cfg);
        for line in &r.trace {
            println!("{line}");
        }
        println!("{:?}", r.stats);
        if let Some((p, d)) = &r.violation {
            println!("VIOLATION seed {seed}: {p}: {d}");
            std::process::exit(1);
        }
        return;
    }
    let next = AtomicU64::new(seeds.start);
    let failures: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let properties: Mutex<std::collections::BTreeMap<&'static str, u64>> = Mutex::default();
    let totals: Mutex<Stats> = Mutex::new(Stats::default());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        return;
                    }
                    let r = sim_single::run(seed, &cfg);
                    totals.lock().unwrap_or_else(|e| e.into_inner()).add(&r.stats);
                    if let Some((p, d)) = &r.violation {
                        if !expect {
                            println!("VIOLATION seed {seed} ({} nodes): {p}: {d}", r.nodes);
                            println!("  replay: cargo run --release -p synod-tests --bin sim_single -- --seed {seed}");
                        }
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push(seed);
                        *properties.lock().unwrap_or_else(|e| e.into_inner()).entry(p).or_default() += 1;
                    }
                }
            });
        }
    });
    let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let n = seeds.end - seeds.start;
    println!(
        "single-decree paxos: {n} seeds in {:.1}s; {} messages, {} proposals, {} nacks, {} crashes, {} partitions; \
         {} nodes learned; violations: {}",
        start.elapsed().as_secs_f64(),
        t.delivered,
        t.proposals,
        t.nacks,
        t.crashes,
        t.partitions,
        t.learned,
        failures.len()
    );
    if expect {
        if failures.is_empty() {
            println!("canary NOT caught");
            std::process::exit(1);
        }
        let properties = properties.into_inner().unwrap_or_else(|e| e.into_inner());
        println!(
            "canary caught in {} seeds, first at {}; by property: {properties:?}",
            failures.len(),
            failures.iter().min().unwrap_or(&0)
        );
    } else if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: sim_single [--seeds LO..HI | --seed N] [--threads T] [--canary-eager-ack] [--canary-amnesia] [--expect-violations]"
    );
    std::process::exit(2)
}
