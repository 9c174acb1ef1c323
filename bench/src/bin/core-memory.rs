//! Heap bytes per log entry beyond its payload, for synod's Raft, raft-rs
//! and OmniPaxos, measured with a counting global allocator: the heap in
//! use once `--entries` entries are committed in the leader's log, minus
//! what it was right after the election, minus one payload per entry,
//! divided by the entry count. Payloads are shared by every replica (no
//! serialisation), so one payload per entry is what the cluster holds;
//! every replica's log and storage are counted.
//!
//! ```sh
//! cargo run --release -p synod-bench --bin core-memory -- --replicas 3 --payload 128 --entries 100000
//! ```

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

use synod_bench::throughput::args;
use synod_bench::throughput::elect;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let opts = match args::parse(std::env::args(), 100_000) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("core-memory: {e}");
            std::process::exit(2);
        }
    };
    let w = opts.workload;
    for imp in &opts.implementations {
        let mut cluster = elect(*imp, &w);
        let region = Region::new(GLOBAL);
        let committed = cluster.run(&w);
        let s = region.change();
        assert_eq!(committed, w.entries);
        // `bytes_allocated` and `bytes_deallocated` already count growth and
        // shrinkage by `realloc`; `bytes_reallocated` is their sum again.
        let in_use = s.bytes_allocated as i64 - s.bytes_deallocated as i64;
        let payloads = (w.entries * w.payload as u64) as i64;
        let per_entry = (in_use - payloads) as f64 / w.entries as f64;
        println!(
            "{{\"impl\":\"{}\",\"replicas\":{},\"payload\":{},\"entries\":{},\"heap_bytes\":{in_use},\
             \"bytes_per_entry_beyond_payload\":{per_entry:.1},\"per_replica\":{:.1}}}",
            imp.name(),
            w.replicas,
            w.payload,
            w.entries,
            per_entry / w.replicas as f64
        );
        drop(cluster);
    }
}
