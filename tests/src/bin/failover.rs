//! How long clients of the surviving nodes stall when the leader fails
//! (issue 22), for synod and for a 3-member etcd beside it:
//! `cargo run --release -p synod-tests --bin failover -- --faults 10`
//! (build the server first: `cargo build --release -p synod`; etcd from
//! `apt-get install etcd-server etcd-client`).

use core::time::Duration;
use std::path::PathBuf;
use synod_tests::failover::stall::{FaultKind, MAX_BOUND, MEDIAN_BOUND};
use synod_tests::failover::{self, Config, Report, Target, etcd::Etcd, synod::Synod};
use synod_tests::nemesis::cluster::Setup;

fn main() {
    let mut cfg = Config {
        faults: 10,
        writers_per_node: 4,
        client_timeout: Duration::from_secs(5),
        down_for: Duration::from_secs(2),
        paused_for: Duration::from_secs(3),
        quiet: Duration::from_secs(8),
    };
    let mut protocol = "raft".to_string();
    let mut transport = "tcp".to_string();
    let mut systems = vec!["synod".to_string(), "etcd".to_string()];
    let mut binary: Option<PathBuf> = None;
    let mut etcd = PathBuf::from("etcd");
    let secs =
        |v: String| Duration::from_secs_f64(v.trim_end_matches('s').parse().unwrap_or_else(|_| fail("bad seconds")));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--faults" => cfg.faults = val().parse().unwrap_or_else(|_| fail("bad --faults")),
            "--writers-per-node" => {
                cfg.writers_per_node = val().parse().unwrap_or_else(|_| fail("bad --writers-per-node"))
            }
            "--client-timeout" => cfg.client_timeout = secs(val()),
            "--down" => cfg.down_for = secs(val()),
            "--pause" => cfg.paused_for = secs(val()),
            "--quiet" => cfg.quiet = secs(val()),
            "--protocol" => protocol = val(),
            "--transport" => transport = val(),
            "--systems" => systems = val().split(',').map(str::to_string).collect(),
            "--binary" => binary = Some(PathBuf::from(val())),
            "--etcd" => etcd = PathBuf::from(val()),
            _ => fail(&format!(
                "unknown flag {flag}\nusage: failover [--faults N] [--systems synod,etcd] [--protocol raft|multi-paxos] \
                 [--transport tcp|tcp-insecure|quic] [--writers-per-node N] [--client-timeout S] [--down S] \
                 [--pause S] [--quiet S] [--binary PATH] [--etcd PATH]"
            )),
        }
    }
    let binary = binary.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
        exe.with_file_name("synod")
    });
    println!(
        "failover: {} faults on the leader (kill -9 + restart after {:.1}s, SIGSTOP + SIGCONT after {:.1}s, alternating), \
         {:.0}s quiet after each, {} writers per node, client timeout {:.1}s",
        cfg.faults,
        cfg.down_for.as_secs_f64(),
        cfg.paused_for.as_secs_f64(),
        cfg.quiet.as_secs_f64(),
        cfg.writers_per_node,
        cfg.client_timeout.as_secs_f64()
    );
    let mut failed = false;
    for system in &systems {
        let dir = std::env::temp_dir().join(format!("synod-failover-{}-{system}", std::process::id()));
        let target: Result<Box<dyn Target>, String> = match system.as_str() {
            "synod" if !binary.exists() => {
                Err(format!("{} not found: build it first (cargo build --release -p synod)", binary.display()))
            }
            "synod" => Synod::new(Setup {
                binary: binary.clone(),
                dir: dir.clone(),
                nodes: 3,
                protocol: protocol.clone(),
                transport: transport.clone(),
                spares: 0,
            })
            .map(|s| Box::new(s) as Box<dyn Target>),
            "etcd" => Etcd::new(etcd.clone(), dir.clone()).map(|e| Box::new(e) as Box<dyn Target>),
            other => Err(format!("unknown system {other} (synod or etcd)")),
        };
        let result = target.and_then(|mut t| {
            println!("\n== {}: election timeout {} ms", t.name(), t.election_timeout().as_millis());
            let r = failover::run(t.as_mut(), &cfg, &mut |line| eprintln!("  [{system}] {line}"));
            drop(t);
            r
        });
        // SYNOD_KEEP_DIR=1 keeps the nodes' data and logs for a post-mortem.
        if std::env::var_os("SYNOD_KEEP_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        match result {
            Ok(r) => {
                print_report(&r);
                failed |= r.lost > 0 || !r.violations.is_empty();
            }
            Err(e) => {
                println!("{system}: harness error: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.3}s", d.as_secs_f64()))
}

fn print_report(r: &Report) {
    let s = &r.summary;
    for (n, f) in r.stalls.iter().enumerate() {
        let what = match f.fault.kind {
            FaultKind::Kill => "kill -9",
            FaultKind::Pause => "SIGSTOP",
        };
        let restored = (f.fault.restored - f.fault.at) as f64 / 1e9;
        let per_node: Vec<String> = f.nodes.iter().map(|n| format!("node {}: {}", n.node, secs(n.stall))).collect();
        println!(
            "fault {:>2}: {what:<7} leader {} at {:>7.3}s (restored +{restored:.1}s)  {}  -> {}",
            n + 1,
            f.fault.victim,
            f.fault.at as f64 / 1e9,
            per_node.join("  "),
            secs(f.worst())
        );
    }
    let ratio = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}x", s.ratio(d)));
    println!(
        "stall over {} faults: median {} ({} election timeout), max {} ({} election timeout); election timeout {} ms",
        s.faults,
        secs(s.median),
        ratio(s.median),
        secs(s.max),
        ratio(s.max),
        s.election_timeout.as_millis()
    );
    println!(
        "issue 22 bounds (median <= {MEDIAN_BOUND}x, max <= {MAX_BOUND}x): {}",
        if s.holds() { "HOLD" } else { "DO NOT HOLD" }
    );
    println!(
        "requests {} ({} ok, {} unknown), acknowledged writes {}, keys read back {}, lost acknowledged writes {}, \
         linearizable {}, {:.0}s",
        r.ops,
        r.ok,
        r.unknown,
        r.acked_writes,
        r.keys_read,
        r.lost,
        if r.verdict.is_linearizable() { "yes" } else { "NO" },
        r.elapsed.as_secs_f64()
    );
    for v in &r.violations {
        println!("  VIOLATION: {v}");
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("failover: {msg}");
    std::process::exit(2)
}
