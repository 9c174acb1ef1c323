//! Replication throughput of synod's Raft and Multi-Paxos, raft-rs and OmniPaxos under the
//! same workload, back to back in one process (see
//! `synod_bench::throughput`). Prints one JSON line per run, then one per
//! implementation with its median and synod's ratio to it.
//!
//! ```sh
//! cargo run --release -p synod-bench --bin core-throughput -- \
//!     --replicas 3 --payload 128 --entries 200000 --window 1024 --rounds 3
//! ```
//!
//! `--only NAME[,NAME]` runs only those (`synod-raft`, `synod-multi-paxos`, `raft-rs`,
//! `omnipaxos-batchB`), e.g. one at a time under callgrind;
//! `--omni-batch 1,64` picks the OmniPaxos batch sizes to run.

use std::time::Instant;

use synod_bench::throughput::args::{self, Implementation};
use synod_bench::throughput::elect;

fn main() {
    let opts = match args::parse(std::env::args(), 200_000) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("core-throughput: {e}");
            std::process::exit(2);
        }
    };
    let w = opts.workload;
    let head = format!(
        "\"replicas\":{},\"payload\":{},\"entries\":{},\"window\":{}",
        w.replicas, w.payload, w.entries, w.window
    );
    let mut rates: Vec<(Implementation, Vec<f64>)> = opts.implementations.iter().map(|i| (*i, Vec::new())).collect();
    for round in 0..opts.rounds {
        // Alternate the order, so no implementation always runs first.
        let order: Vec<usize> =
            if round % 2 == 0 { (0..rates.len()).collect() } else { (0..rates.len()).rev().collect() };
        for k in order {
            let imp = rates[k].0;
            let mut cluster = elect(imp, &w);
            let start = Instant::now();
            let committed = cluster.run(&w);
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(committed, w.entries, "{} committed every entry", imp.name());
            let rate = committed as f64 / secs;
            rates[k].1.push(rate);
            println!(
                "{{\"impl\":\"{}\",{head},\"round\":{round},\"seconds\":{secs:.4},\"entries_per_sec\":{rate:.0}}}",
                imp.name()
            );
            drop(cluster);
        }
    }
    let medians: Vec<(Implementation, f64)> = rates.iter().map(|(i, r)| (*i, median(r))).collect();
    let find = |want| medians.iter().find(|(i, _)| *i == want).map(|m| m.1);
    let (raft, paxos) = (find(Implementation::SynodRaft), find(Implementation::SynodMultiPaxos));
    for (imp, m) in &medians {
        let mut ratio = raft.map_or(String::new(), |s| format!(",\"synod_raft_over_this\":{:.2}", s / m));
        if let Some(p) = paxos {
            ratio += &format!(",\"synod_multi_paxos_over_this\":{:.2}", p / m);
        }
        println!(
            "{{\"summary\":\"median\",\"impl\":\"{}\",{head},\"rounds\":{},\"entries_per_sec\":{m:.0}{ratio}}}",
            imp.name(),
            opts.rounds
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
