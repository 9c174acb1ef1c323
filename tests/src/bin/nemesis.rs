//! Fault injection against real `synod node` processes:
//! `cargo run --release -p synod-tests --bin nemesis -- --duration 60 --seed 1`
//! (build the server first: `cargo build --release -p synod`).

use core::time::Duration;
use std::path::PathBuf;
use std::time::Instant;
use synod_tests::nemesis::{self, Config, cluster::Setup};

fn main() {
    let mut seeds = 1..2u64;
    let mut duration = 60u64;
    let mut protocol = "raft".to_string();
    let mut transport = "tcp".to_string();
    let mut clients = 5;
    let mut keys = 8;
    let mut binary: Option<PathBuf> = None;
    let mut plain_retries = false;
    let mut membership = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--seed" => {
                let s: u64 = val().parse().unwrap_or_else(|_| fail("--seed takes a number"));
                seeds = s..s + 1;
            }
            "--seeds" => {
                let v = val();
                let (a, b) = v.split_once("..").unwrap_or_else(|| fail("--seeds takes A..B"));
                seeds = a.parse().unwrap_or_else(|_| fail("bad seed"))..b.parse().unwrap_or_else(|_| fail("bad seed"));
            }
            "--duration" => {
                duration = val().trim_end_matches('s').parse().unwrap_or_else(|_| fail("--duration takes seconds"))
            }
            "--protocol" => protocol = val(),
            "--transport" => transport = val(),
            "--clients" => clients = val().parse().unwrap_or_else(|_| fail("bad --clients")),
            "--keys" => keys = val().parse().unwrap_or_else(|_| fail("bad --keys")),
            "--binary" => binary = Some(PathBuf::from(val())),
            // Grow 3 → 5, shrink back, replace kill -9'd voters (Raft, TCP).
            "--membership" => membership = true,
            // The exactly-once check's canary: writes retried without a
            // session must be caught applied twice.
            "--canary" => match val().as_str() {
                "plain-retries" => plain_retries = true,
                other => fail(&format!("unknown canary {other}; the one canary is plain-retries")),
            },
            _ => fail(&format!(
                "unknown flag {flag}\nusage: nemesis [--seed N | --seeds A..B] [--duration SECS] [--protocol raft|multi-paxos] \
                 [--transport tcp|tcp-insecure|quic] [--clients N] [--keys N] [--binary PATH] [--canary plain-retries] [--membership]"
            )),
        }
    }
    if membership && transport == "quic" {
        fail("--membership runs over TCP (the UDP proxy answers one sender)");
    }
    let binary = binary.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
        exe.with_file_name("synod")
    });
    if !binary.exists() {
        fail(&format!("{} not found: build it first (cargo build --release -p synod)", binary.display()));
    }
    let stop = nemesis::stop_flag();
    let _ = ctrlc::set_handler(move || stop.store(true, core::sync::atomic::Ordering::SeqCst));
    let mut failed = false;
    let mut totals = nemesis::Report::default();
    let begun = Instant::now();
    for seed in seeds {
        let dir = std::env::temp_dir().join(format!("synod-nemesis-{}-{seed}", std::process::id()));
        let cfg = Config {
            setup: Setup {
                binary: binary.clone(),
                dir: dir.clone(),
                nodes: 3,
                protocol: protocol.clone(),
                transport: transport.clone(),
                // Each growth or replacement takes a fresh id.
                spares: if membership { 12 } else { 0 },
            },
            seed,
            duration: Duration::from_secs(duration),
            clients,
            keys,
            plain_retries,
            membership,
        };
        let result = nemesis::run(&cfg);
        // Kept when something failed: the nodes' logs are there.
        if result.as_ref().is_ok_and(|r| r.violations.is_empty()) {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            println!("seed {seed}: the nodes' data and logs are kept in {}", dir.display());
        }
        match result {
            Ok(r) => {
                println!(
                    "seed {seed} ({protocol}/{transport}): {} ops ({} ok, {} unknown; {} transactions, {} on hash fields, watched writes {} stored / {} aborted), {} kills, {} cluster crashes, {} pauses, {} partitions, \
                     {} transfers, {} acknowledged writes checked, {} lock grants checked, exactly-once writes {} done / {} failed \
                     ({} of them applied once), {} lock holdings ({} cut short by the lease), recovered in {:.1}s, {} violations",
                    r.ops,
                    r.ok,
                    r.unknown,
                    r.transactions,
                    r.field_ops,
                    r.watched.0,
                    r.watched.1,
                    r.kills,
                    r.cluster_crashes,
                    r.pauses,
                    r.partitions,
                    r.transfers,
                    r.acked_checked,
                    r.grants,
                    r.eo_done,
                    r.eo_failed,
                    r.eo_failed_applied,
                    r.holdings,
                    r.holdings_cut_short,
                    r.recovery.as_secs_f64(),
                    r.violations.len()
                );
                if membership {
                    let m = &r.membership;
                    println!(
                        "  membership: {} grown (to {} voters at most), {} shrunk, {} replaced after kill -9; {} steps answered, {} asked again",
                        m.grown, m.most_voters, m.shrunk, m.replaced, m.answered, m.retried
                    );
                }
                for v in &r.violations {
                    println!("  VIOLATION: {v}");
                }
                failed |= !r.violations.is_empty();
                totals.add(&r);
            }
            Err(e) => {
                println!("seed {seed}: harness error: {e}");
                failed = true;
            }
        }
        if nemesis::stop_flag().load(core::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    if membership {
        let m = &totals.membership;
        println!(
            "membership total: {} grown (to {} voters at most), {} shrunk, {} replaced after kill -9; {} steps answered, {} asked again",
            m.grown, m.most_voters, m.shrunk, m.replaced, m.answered, m.retried
        );
    }
    println!(
        "total: {} ops ({} transactions, {} on hash fields, watched writes {} stored / {} aborted), {} kills, {} cluster crashes, {} pauses, {} partitions, {} transfers, {} acknowledged writes checked, \
         exactly-once writes {} done / {} failed ({} applied once), {} lock holdings ({} cut short), {} violations, {:.0}s",
        totals.ops,
        totals.transactions,
        totals.field_ops,
        totals.watched.0,
        totals.watched.1,
        totals.kills,
        totals.cluster_crashes,
        totals.pauses,
        totals.partitions,
        totals.transfers,
        totals.acked_checked,
        totals.eo_done,
        totals.eo_failed,
        totals.eo_failed_applied,
        totals.holdings,
        totals.holdings_cut_short,
        totals.violations.len(),
        begun.elapsed().as_secs_f64()
    );
    std::process::exit(i32::from(failed));
}

fn fail(msg: &str) -> ! {
    eprintln!("nemesis: {msg}");
    std::process::exit(2)
}
