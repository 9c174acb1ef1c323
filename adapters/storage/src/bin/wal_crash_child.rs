//! The process the crash test kills: opens a store, then appends groups of
//! batches until it is killed, saying on stdout what it is about to write
//! and what `persist` acknowledged.
//!
//! ```text
//! wal_crash_child <dir> <seed>
//! ```
//!
//! Output, one line each, flushed before the next step:
//!
//! ```text
//! ready <last index> <term>
//! write <truncate_from|-> <snapshot index|-> <snapshot term> <snapshot len> <first> <count> <term> <len> <commit|->
//! ack <batches written so far in this run>
//! ```
//!
//! A `write` line describes one batch: entries `first..first+count` in
//! `term`, each with `len` payload bytes, byte `k` of entry `i` being
//! `(i * 31 + term * 7 + k) as u8`; a snapshot's data uses term 99; a
//! commit sets the hard state to `{ term, vote: 1, commit }`. The test
//! rebuilds every batch from its line.

use bytes::Bytes;
use futures::executor::block_on;
use std::io::Write;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, HardState, Membership, Persist, PersistId, Snapshot, SnapshotMeta};
use synod_net::store::LogStore;
use synod_storage::{Storage, StorageConfig};

fn data(index: u64, term: u64, len: usize) -> Bytes {
    (0..len).map(|k| (index as usize * 31 + term as usize * 7 + k) as u8).collect::<Vec<u8>>().into()
}

/// xorshift64*: enough to vary the workload from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, seed] = &args[..] else {
        eprintln!("usage: wal_crash_child <dir> <seed>");
        std::process::exit(2);
    };
    let mut rng = Rng(seed.parse::<u64>().expect("seed").max(1));
    let config = StorageConfig { segment_bytes: 64 << 10, ..StorageConfig::new("crash-test", NodeId(1)) };
    let mut store = Storage::open(dir, config).unwrap_or_else(|e| panic!("open: {e}"));
    let rec = block_on(store.load()).unwrap_or_else(|e| panic!("load: {e}"));
    let snap_index = rec.snapshot.as_ref().map_or(0, |s| s.meta.index.0);
    let mut last = rec.entries.last().map_or(snap_index, |e| e.index.0);
    let mut commit = rec.hard_state.commit.0;
    let mut snapshot_at = snap_index;
    let term = rec.hard_state.term.0 + 1;
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "ready {last} {term}").unwrap();
    out.flush().unwrap();

    // A new term rewrites a few uncommitted entries, as a new leader would.
    let rewrite = rng.below(4).min(last.saturating_sub(commit.max(snapshot_at)));
    let mut first_batch = true;
    let mut written = 0u64;
    loop {
        let mut group = Vec::new();
        for _ in 0..1 + rng.below(16) {
            let mut p = Persist { id: PersistId(written + 1), ..Default::default() };
            let mut line = String::from("write");
            if first_batch && rewrite > 0 {
                last -= rewrite;
                p.truncate_from = Some(LogIndex(last + 1));
                line += &format!(" {}", last + 1);
            } else {
                line += " -";
            }
            if rng.below(40) == 0 && commit > snapshot_at {
                snapshot_at = commit;
                let len = 100 + rng.below(3000) as usize;
                let membership = Membership::voters_only([NodeId(1)]).expect("one voter");
                let meta = SnapshotMeta { index: LogIndex(commit), term: Term(term), membership };
                p.snapshot = Some(Snapshot { meta, data: data(commit, 99, len) });
                line += &format!(" {commit} {term} {len}");
            } else {
                line += " - 0 0";
            }
            let count = 1 + rng.below(4);
            let len = rng.below(1500) as usize;
            p.entries = (last + 1..=last + count)
                .map(|i| Entry::command(LogIndex(i), Term(term), data(i, term, len)))
                .collect();
            line += &format!(" {} {count} {term} {len}", last + 1);
            if first_batch || rng.below(4) == 0 {
                // Commit what earlier batches wrote.
                commit = commit.max(last);
                p.hard_state = Some(HardState { term: Term(term), vote: Some(NodeId(1)), commit: LogIndex(commit) });
                line += &format!(" {commit}");
            } else {
                line += " -";
            }
            last += count;
            first_batch = false;
            written += 1;
            writeln!(out, "{line}").unwrap();
            group.push(p);
        }
        out.flush().unwrap();
        block_on(store.persist(group)).unwrap_or_else(|e| panic!("persist: {e}"));
        writeln!(out, "ack {written}").unwrap();
        out.flush().unwrap();
    }
}
