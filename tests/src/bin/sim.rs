//! Runs simulation campaigns: `sim --protocol raft --seeds 0..2000` (or
//! `--protocol multi-paxos`), or replays one seed with its trace:
//! `sim --protocol raft --seed 17`.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use synod_tests::sim::{self, Canary, Protocol, Report, SimConfig};

struct Args {
    protocol: Protocol,
    seeds: core::ops::Range<u64>,
    replay: Option<u64>,
    threads: usize,
    fault_ms: u64,
    liveness_ms: u64,
    clients: usize,
    expect_violations: bool,
    canary_old_time_base: bool,
    canary_amnesia: bool,
    canary: Option<Canary>,
    membership: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        protocol: Protocol::Raft,
        seeds: 0..100,
        replay: None,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        fault_ms: 3000,
        liveness_ms: 3000,
        clients: 5,
        expect_violations: false,
        canary_old_time_base: false,
        canary_amnesia: false,
        canary: None,
        membership: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--protocol" => a.protocol = val()?.parse()?,
            "--seeds" => {
                let v = val()?;
                let (lo, hi) = v.split_once("..").ok_or("--seeds takes LO..HI")?;
                a.seeds = lo.parse().map_err(|e| format!("{e}"))?..hi.parse().map_err(|e| format!("{e}"))?;
            }
            "--seed" => a.replay = Some(val()?.parse().map_err(|e| format!("{e}"))?),
            "--threads" => a.threads = val()?.parse().map_err(|e| format!("{e}"))?,
            "--fault-ms" => a.fault_ms = val()?.parse().map_err(|e| format!("{e}"))?,
            "--liveness-ms" => a.liveness_ms = val()?.parse().map_err(|e| format!("{e}"))?,
            "--clients" => a.clients = val()?.parse().map_err(|e| format!("{e}"))?,
            // For canaries: succeed only if the campaign finds a violation.
            "--expect-violations" => a.expect_violations = true,
            // Planted bugs in the world rather than the replica.
            "--canary-old-time-base" => a.canary_old_time_base = true,
            "--canary-amnesia" => a.canary_amnesia = true,
            // A fault planted to trip one named property.
            "--canary" => a.canary = Some(val()?.parse()?),
            // Spares join, learners are promoted or swapped in, voters removed.
            "--membership" => a.membership = true,
            "-h" | "--help" => {
                let canaries: Vec<&str> = Canary::ALL.iter().map(|c| c.name()).collect();
                return Err(format!(
                    "usage: sim [--protocol raft|multi-paxos] [--seeds LO..HI | --seed N] [--threads T] \
                     [--fault-ms MS] [--liveness-ms MS] [--clients C] [--canary-old-time-base] [--canary-amnesia] \
                     [--canary NAME] [--membership] [--expect-violations]\n  canaries: {}",
                    canaries.join(", ")
                ));
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if let Some(c) = a.canary
        && !c.applies_to(a.protocol)
    {
        return Err(format!("canary {} does not apply to {}", c.name(), a.protocol.name()));
    }
    if a.canary.is_some_and(Canary::needs_membership_changes) && !a.membership {
        return Err("this canary strikes only in membership changes: add --membership".into());
    }
    Ok(a)
}

fn config(a: &Args, trace: bool) -> SimConfig {
    let mut c = SimConfig::new(a.protocol);
    c.fault_time = core::time::Duration::from_millis(a.fault_ms);
    c.liveness_time = core::time::Duration::from_millis(a.liveness_ms);
    c.clients = a.clients;
    c.trace = trace;
    c.canary_old_time_base = a.canary_old_time_base;
    c.canary_amnesia = a.canary_amnesia;
    c.canary = a.canary;
    c.membership_changes = a.membership;
    c
}

fn print_failure(r: &Report, a: &Args) {
    let protocol = a.protocol;
    let mut canaries = String::new();
    if a.canary_old_time_base {
        canaries.push_str(" --canary-old-time-base");
    }
    if a.canary_amnesia {
        canaries.push_str(" --canary-amnesia");
    }
    if a.membership {
        canaries.push_str(" --membership");
    }
    if let Some(c) = a.canary {
        canaries.push_str(" --canary ");
        canaries.push_str(c.name());
    }
    if (a.fault_ms, a.liveness_ms) != (3000, 3000) {
        canaries.push_str(&format!(" --fault-ms {} --liveness-ms {}", a.fault_ms, a.liveness_ms));
    }
    if let Some(v) = &r.violation {
        println!("VIOLATION seed {}: {}: {}", r.seed, v.property, v.detail);
        println!("  params: {:?}", r.params);
        let name = protocol.name();
        println!(
            "  replay: cargo run --release -p synod-tests --bin sim -- --protocol {name}{canaries} --seed {}",
            r.seed
        );
    }
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(seed) = a.replay {
        let r = sim::run(seed, &config(&a, true));
        for line in &r.trace {
            println!("{line}");
        }
        println!("{:?}", r.stats);
        print_failure(&r, &a);
        std::process::exit(if r.violation.is_some() { 1 } else { 0 });
    }
    let cfg = config(&a, false);
    let next = AtomicU64::new(a.seeds.start);
    let failures: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    let totals: Mutex<sim::Stats> = Mutex::new(sim::Stats::default());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.threads.max(1) {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= a.seeds.end {
                        return;
                    }
                    let r = sim::run(seed, &cfg);
                    let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                    t.add(&r.stats);
                    drop(t);
                    if r.violation.is_some() {
                        print_failure(&r, &a);
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = a.seeds.end - a.seeds.start;
    let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "protocol {:?}: {n} seeds in {secs:.1}s ({:.1} seeds/s), {} steps, {} messages delivered",
        a.protocol,
        n as f64 / secs,
        t.steps,
        t.delivered
    );
    println!(
        "faults: {} crashes ({} whole-cluster), {} partitions, {} weather changes, {} transfers; {} elections, {} snapshots",
        t.crashes, t.cluster_crashes, t.partitions, t.weather, t.transfers, t.elections, t.snapshots
    );
    println!("disks: {} lost their log, {} restarts refused for it", t.disk_losses, t.refused_starts);
    println!(
        "log in memory: {} runs kept a tail only; {} read-backs from disk ({} failed by the disk, {} refused after a snapshot)",
        t.tail_runs, t.log_reads, t.log_reads_failed, t.log_reads_refused
    );
    if a.membership {
        println!(
            "membership: {} steps asked of leaders (add learner, promote, replace, remove), {} of them replacements",
            t.member_steps, t.member_replacements
        );
    }
    println!(
        "node machines: {} requests forwarded to a leader, {} taken back when leadership moved",
        t.forwarded, t.leader_changed
    );
    println!(
        "ops: {} ok ({} transactions), {} refused, {} unknown, {} sessioned writes sent again; lock grants: {} \
         checked on true time, {} acted on ({} stale holders fenced off); violations: {}",
        t.ops_ok,
        t.transactions,
        t.ops_failed,
        t.ops_unknown,
        t.ops_retried,
        t.lock_grants,
        t.lock_actions,
        t.stale_holders,
        failures.len()
    );
    if a.expect_violations {
        if failures.is_empty() {
            println!("canary NOT caught: the simulator missed a planted bug");
            std::process::exit(1);
        }
        println!("canary caught: first at seed {}", failures.iter().map(|r| r.seed).min().unwrap_or(0));
    } else if !failures.is_empty() {
        std::process::exit(1);
    }
}
