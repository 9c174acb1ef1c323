//! Write-ahead log throughput next to the disk's own limit, measured in the
//! same run on the same directory.
//!
//! ```text
//! cargo run --release -p synod-storage --bin wal_bench -- [--dir DIR] [--seconds S] [--rounds R]
//! ```
//!
//! For 128 B and 4 KiB records at group sizes 1, 16 and 256 it times two
//! loops, back to back (alternating which goes first), for `R` rounds
//! (default 9) of `S` seconds (default 1) each, and reports the medians:
//!
//! - **raw**: `write` of `group × size` bytes to a plain file, then
//!   `fdatasync` — the physical limit for durable appends of that size;
//! - **wal**: [`Storage::persist`](synod_net::store::LogStore::persist) of
//!   `group` batches of one entry of `size` bytes each (one record per
//!   batch, one `fdatasync` per call).
//!
//! Prints a Markdown table, then one JSON object per case.

use bytes::Bytes;
use core::time::Duration;
use futures::executor::block_on;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, Persist, PersistId};
use synod_net::store::LogStore;
use synod_storage::{Storage, StorageConfig};

const SIZES: [usize; 2] = [128, 4096];
const GROUPS: [usize; 3] = [1, 16, 256];

struct Args {
    dir: PathBuf,
    seconds: f64,
    rounds: usize,
    /// Only these record sizes (all if empty).
    sizes: Vec<usize>,
    /// Only these group sizes (all if empty).
    groups: Vec<usize>,
}

fn parse_args() -> Args {
    let mut a = Args { dir: std::env::temp_dir(), seconds: 1.0, rounds: 9, sizes: vec![], groups: vec![] };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(value),
            "--seconds" => a.seconds = value.parse().unwrap_or_else(|_| usage("--seconds takes a number")),
            "--rounds" => a.rounds = value.parse().unwrap_or_else(|_| usage("--rounds takes a count")),
            "--size" => a.sizes.push(value.parse().unwrap_or_else(|_| usage("--size takes bytes"))),
            "--group" => a.groups.push(value.parse().unwrap_or_else(|_| usage("--group takes a count"))),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!("{why}\nusage: wal_bench [--dir DIR] [--seconds S] [--rounds R] [--size BYTES].. [--group N]..");
    std::process::exit(2)
}

/// Appends per second: `write` + `fdatasync` of `group × size` bytes.
fn raw(dir: &Path, size: usize, group: usize, time: Duration) -> f64 {
    let path = dir.join("raw.dat");
    let mut f = File::create(&path).expect("create raw file");
    let buf = vec![0xa5u8; size * group];
    let start = Instant::now();
    let mut appends = 0;
    while start.elapsed() < time {
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
        appends += group;
    }
    let rate = appends as f64 / start.elapsed().as_secs_f64();
    drop(f);
    fs::remove_file(&path).expect("remove raw file");
    rate
}

/// Appends per second through the store: `group` batches per `persist`.
fn wal(dir: &Path, size: usize, group: usize, time: Duration) -> f64 {
    let path = dir.join("wal");
    let _ = fs::remove_dir_all(&path);
    let mut store = Storage::open(&path, StorageConfig::new("bench", NodeId(1))).expect("open store");
    let payload = Bytes::from(vec![0xa5u8; size]);
    let mut next = 1u64;
    let start = Instant::now();
    while start.elapsed() < time {
        let batches: Vec<Persist> = (0..group)
            .map(|_| {
                let e = Entry::command(LogIndex(next), Term(1), payload.clone());
                next += 1;
                Persist { id: PersistId(next), entries: vec![e], ..Default::default() }
            })
            .collect();
        block_on(store.persist(batches)).expect("persist");
    }
    let rate = (next - 1) as f64 / start.elapsed().as_secs_f64();
    drop(store);
    fs::remove_dir_all(&path).expect("remove store");
    rate
}

/// One case's medians over the rounds.
struct Row {
    size: usize,
    group: usize,
    raw: f64,
    wal: f64,
    /// Median of the per-round wal / raw ratios (each round's two loops ran
    /// back to back, so they saw the same disk weather).
    ratio: f64,
    ratio_min: f64,
    ratio_max: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    let dir = args.dir.join(format!("synod-wal-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create bench directory");
    let time = Duration::from_secs_f64(args.seconds);
    eprintln!("directory {}, {} rounds of {:.1} s per loop", dir.display(), args.rounds, args.seconds);

    let mut rows = Vec::new();
    let pick = |chosen: &[usize], all: &[usize]| if chosen.is_empty() { all.to_vec() } else { chosen.to_vec() };
    for size in pick(&args.sizes, &SIZES) {
        for group in pick(&args.groups, &GROUPS) {
            let (mut raws, mut wals) = (Vec::new(), Vec::new());
            for round in 0..args.rounds {
                // Alternate which loop goes first, so neither always runs
                // right after the other's files were deleted.
                if round % 2 == 0 {
                    raws.push(raw(&dir, size, group, time));
                    wals.push(wal(&dir, size, group, time));
                } else {
                    wals.push(wal(&dir, size, group, time));
                    raws.push(raw(&dir, size, group, time));
                }
                eprintln!("  round {round}: raw {:.0}/s, wal {:.0}/s", raws[round], wals[round]);
            }
            let ratios: Vec<f64> = raws.iter().zip(&wals).map(|(r, w)| w / r).collect();
            let row = Row {
                size,
                group,
                raw: median(raws),
                wal: median(wals),
                ratio: median(ratios.clone()),
                ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratio_max: ratios.iter().copied().fold(0.0, f64::max),
            };
            eprintln!("{size} B x {group}: raw {:.0}/s, wal {:.0}/s, ratio {:.3}", row.raw, row.wal, row.ratio);
            rows.push(row);
        }
    }
    fs::remove_dir_all(&dir).expect("remove bench directory");

    println!("| record | group | raw appends/s | raw MB/s | wal appends/s | wal MB/s | wal / raw | per-round range |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let mb = |rate: f64| rate * r.size as f64 / 1e6;
        let record = if r.size >= 1024 { format!("{} KiB", r.size / 1024) } else { format!("{} B", r.size) };
        println!(
            "| {record} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0}% | {:.0}–{:.0}% |",
            r.group,
            r.raw,
            mb(r.raw),
            r.wal,
            mb(r.wal),
            100.0 * r.ratio,
            100.0 * r.ratio_min,
            100.0 * r.ratio_max
        );
    }
    for r in &rows {
        println!(
            "{{\"record_bytes\":{},\"group\":{},\"raw_appends_per_s\":{:.1},\"wal_appends_per_s\":{:.1},\
             \"ratio\":{:.4},\"ratio_min\":{:.4},\"ratio_max\":{:.4}}}",
            r.size, r.group, r.raw, r.wal, r.ratio, r.ratio_min, r.ratio_max
        );
    }
}
