//! A three-node in-process cluster over each adapter (TCP plain and with
//! mutual TLS on tokio and smol, then QUIC), same workload, same run:
//! committed writes per second and latency percentiles.
//! `cargo run --release -p synod-bench --bin adapters -- --writes 20000 --concurrency 64`

use bytes::Bytes;
use futures::future::join_all;
use hdrhistogram::Histogram;
use std::time::Instant;
use synod_core::service::kv::KvCommand;
use synod_core::service::{Command, Op};
use synod_tests::scenarios::{Deploy, TestCluster};

struct Args {
    writes: u64,
    concurrency: u64,
    value: usize,
}

fn parse() -> Args {
    let mut a = Args { writes: 20_000, concurrency: 64, value: 256 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--writes" => a.writes = v,
            "--concurrency" => a.concurrency = v,
            "--value" => a.value = v as usize,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Runs the workload against the leader; prints one JSON line.
async fn measure(d: &dyn Deploy, a: &Args) {
    let c = TestCluster::start(d, 3).await.expect("cluster starts");
    let leader = c.leader().await;
    c.write(leader, "warmup", "1").await;
    let handle = c.handle(leader).clone();
    let value = Bytes::from(vec![b'v'; a.value]);
    let per = a.writes / a.concurrency;
    let start = Instant::now();
    let workers = (0..a.concurrency).map(|w| {
        let (handle, value) = (handle.clone(), value.clone());
        async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let mut errors = 0u64;
            for i in 0..per {
                let key = Bytes::from(format!("k{w}-{i}"));
                let cmd = Command::new(Op::Kv { cmd: KvCommand::Set { key, value: value.clone() }, lease: None });
                let t = Instant::now();
                match handle.propose(cmd.encode()).await {
                    Ok(_) => hist.record(t.elapsed().as_micros() as u64).expect("record"),
                    Err(_) => errors += 1,
                }
            }
            (hist, errors)
        }
    });
    let results = join_all(workers).await;
    let secs = start.elapsed().as_secs_f64();
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    let mut errors = 0;
    for (h, e) in results {
        all.add(h).expect("merge");
        errors += e;
    }
    println!(
        "{{\"adapter\":\"{}\",\"writes\":{},\"concurrency\":{},\"value\":{},\"secs\":{secs:.3},\"writes_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"errors\":{errors}}}",
        d.name(),
        all.len(),
        a.concurrency,
        a.value,
        all.len() as f64 / secs,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
    );
    c.shutdown().await;
}

fn main() {
    let a = parse();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    // Plain and TLS back to back on each runtime: what mutual TLS costs is
    // the ratio of neighbours measured seconds apart.
    tokio.block_on(async {
        measure(&synod_tests::deploy::TokioTcp::plain("bench-tokio-plain"), &a).await;
        measure(&synod_tests::deploy::TokioTcp::new("bench-tokio-tls"), &a).await;
    });
    smol::block_on(measure(&synod_tests::deploy::SmolTcp::plain("bench-smol-plain"), &a));
    smol::block_on(measure(&synod_tests::deploy::SmolTcp::new("bench-smol-tls"), &a));
    tokio.block_on(async {
        measure(&synod_tests::deploy::Quic::new("bench-quic"), &a).await;
    });
}
