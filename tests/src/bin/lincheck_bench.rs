//! Times the linearizability checker on a generated history.
//!
//! `cargo run --release -p synod-tests --bin lincheck_bench -- --ops 10000 --clients 16 --keys 16 --seed 1`
//!
//! Options: `--ops N`, `--clients N`, `--keys N`, `--values N`, `--seed N`,
//! `--unknown P`, `--failed P` (probabilities), `--max-steps N` (per key),
//! `--plant` (make one read stale, to time a rejection).

use std::process::ExitCode;
use std::time::Instant;
use synod_tests::history::Outcome;
use synod_tests::linearizability::workload::{Workload, generate, plant_stale_read};
use synod_tests::linearizability::{Options, Verdict, check_with};

fn main() -> ExitCode {
    let mut w = Workload::default();
    let mut options = Options::default();
    let mut plant = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--plant" {
            plant = true;
            continue;
        }
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::FAILURE;
        };
        let parsed = match flag.as_str() {
            "--ops" => value.parse().map(|v| w.ops = v).is_ok(),
            "--clients" => value.parse().map(|v| w.clients = v).is_ok(),
            "--keys" => value.parse().map(|v| w.keys = v).is_ok(),
            "--values" => value.parse().map(|v| w.values = v).is_ok(),
            "--seed" => value.parse().map(|v| w.seed = v).is_ok(),
            "--unknown" => value.parse().map(|v| w.unknown = v).is_ok(),
            "--failed" => value.parse().map(|v| w.failed = v).is_ok(),
            "--max-steps" => value.parse().map(|v| options.max_steps = v).is_ok(),
            _ => {
                eprintln!("unknown option {flag}");
                return ExitCode::FAILURE;
            }
        };
        if !parsed {
            eprintln!("bad value for {flag}: {value}");
            return ExitCode::FAILURE;
        }
    }

    let started = Instant::now();
    let mut history = generate(&w);
    let generated = started.elapsed();
    let planted = if plant { plant_stale_read(&mut history) } else { None };
    let unknown = history.ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();
    let failed = history.ops.iter().filter(|o| o.outcome == Outcome::Failed).count();

    let started = Instant::now();
    let report = check_with(&history, &options);
    let checked = started.elapsed();

    println!(
        "ops {} clients {} keys {} (in history {}) seed {}",
        history.len(),
        w.clients,
        w.keys,
        report.keys,
        w.seed
    );
    println!("unknown {unknown} failed {failed} planted {planted:?}");
    println!("generate {:.3} s", generated.as_secs_f64());
    println!("check {:.3} s, {} steps", checked.as_secs_f64(), report.steps);
    match &report.verdict {
        Verdict::Linearizable => println!("verdict linearizable"),
        Verdict::Unknown { key } => println!("verdict unknown (budget ran out on key {key})"),
        Verdict::NotLinearizable(why) => println!("verdict not linearizable\n{why}"),
    }
    // A planted fault that goes unnoticed, or a generated history that is
    // rejected, is a checker bug: say so in the exit code.
    let expected = if planted.is_some() { !report.verdict.is_linearizable() } else { report.verdict.is_linearizable() };
    if expected { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
