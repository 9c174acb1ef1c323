//! The hostile-client soak against a real `synod cluster`:
//! `cargo run --release -p synod-tests --bin client_soak -- --seconds 60`
//! (build the server first: `cargo build --release -p synod`). Prints the
//! normal writer's latency alone and under attack, the server's memory,
//! what each attack did, and how many acknowledged writes were lost.

use std::path::PathBuf;
use synod_tests::soak;

fn main() {
    let mut seconds = 60u64;
    let mut idle = 500usize;
    let mut port = 23100u16;
    let mut binary = PathBuf::from("target/release/synod");
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--seconds" => seconds = val.parse().unwrap_or_else(|_| fail("--seconds takes a number")),
            "--idle" => idle = val.parse().unwrap_or_else(|_| fail("--idle takes a number")),
            "--port" => port = val.parse().unwrap_or_else(|_| fail("--port takes a port")),
            "--binary" => binary = PathBuf::from(val),
            "--only" => only = Some(soak::Attack::named(&val).unwrap_or_else(|| fail("--only takes an attack's name"))),
            _ => fail(&format!(
                "unknown flag {flag}\nusage: client_soak [--seconds N] [--idle N] [--port P] [--binary PATH] [--only ATTACK]"
            )),
        }
    }
    let dir = std::env::temp_dir().join(format!("synod-soak-{}", std::process::id()));
    let r = soak::run(&binary, &dir, port, seconds, idle, only);
    println!(
        "writer alone:    {} acked, {} failed, p50 {} us, p99 {} us",
        r.alone.acked, r.alone.failed, r.alone.p50_us, r.alone.p99_us
    );
    println!(
        "writer attacked: {} acked, {} failed, p50 {} us, p99 {} us",
        r.attacked.acked, r.attacked.failed, r.attacked.p50_us, r.attacked.p99_us
    );
    println!("p99 ratio (attacked / alone): {:.2}", r.attacked.p99_us as f64 / r.alone.p99_us.max(1) as f64);
    println!("server RSS: {} MiB before the attack, {} MiB at its peak", r.rss_before_kib >> 10, r.rss_peak_kib >> 10);
    for (kind, tried, cut) in &r.attacks {
        println!("  {kind:?}: {tried} tried, {cut} cut off by the server");
    }
    println!("acknowledged writes lost: {}", r.lost);
    if r.lost > 0 {
        std::process::exit(1);
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("client_soak: {msg}");
    std::process::exit(2);
}
