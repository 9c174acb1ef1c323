//! A real crash test: `wal_crash_child` appends to a store and says what it
//! writes and what `persist` acknowledged; this test `kill -9`s it at a
//! random moment, reopens the directory, and checks that recovery never
//! fails and returns exactly the batches up to some point at or after the
//! last acknowledged one: nothing acknowledged lost, no batch without the
//! ones before it, no half batch. Then it starts the child again on the
//! same directory, for a bounded number of kills and a bounded time.

mod common;

use common::*;
use core::time::Duration;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, HardState, Membership, Persist, Recovered, Snapshot, SnapshotMeta};
use synod_net::store::apply_batch;
use synod_storage::{Storage, StorageConfig};

const KILLS: usize = 20;
const TIME_BUDGET: Duration = Duration::from_secs(30);

/// Rebuilds a batch from the child's `write` line (format in the child's docs).
fn parse_write(line: &str) -> Persist {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 10, "bad line {line:?}");
    let num = |i: usize| f[i].parse::<u64>().unwrap_or_else(|_| panic!("field {i} of {line:?}"));
    let opt = |i: usize| (f[i] != "-").then(|| num(i));
    let mut p = Persist { truncate_from: opt(1).map(LogIndex), ..Default::default() };
    if let Some(index) = opt(2) {
        let membership = Membership::voters_only([NodeId(1)]).unwrap();
        let meta = SnapshotMeta { index: LogIndex(index), term: Term(num(3)), membership };
        p.snapshot = Some(Snapshot { meta, data: data(index, 99, num(4) as usize) });
    }
    let (first, count, term, len) = (num(5), num(6), num(7), num(8) as usize);
    p.entries = (first..first + count).map(|i| Entry::command(LogIndex(i), Term(term), data(i, term, len))).collect();
    p.hard_state = opt(9).map(|c| HardState { term: Term(term), vote: Some(NodeId(1)), commit: LogIndex(c) });
    p
}

/// Seeded so a failure can be replayed: `SYNOD_CRASH_SEED=n cargo test ...`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn kill_9_at_random_moments_never_loses_an_acknowledged_batch() {
    let seed = std::env::var("SYNOD_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = TempDir::new("crash");
    let config = StorageConfig { segment_bytes: 64 << 10, ..StorageConfig::new("crash-test", NodeId(1)) };
    // Every batch the child said it would write, across runs, up to what
    // the last recovery showed; the durable state is a prefix of it.
    let mut history: Vec<Persist> = Vec::new();
    let mut durable = Recovered::default();
    let started = Instant::now();
    let (mut kills, mut acked_total, mut beyond_ack) = (0, 0usize, 0usize);
    while kills < KILLS && started.elapsed() < TIME_BUDGET {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wal_crash_child"))
            .arg(dir.path())
            .arg((seed + kills as u64).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(20)).expect("child never became ready");
        assert!(ready.starts_with("ready "), "child said {ready:?}");
        std::thread::sleep(Duration::from_millis(10 + rng.below(400)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child only stops when killed");
        reader.join().unwrap();

        // What this run wrote and acknowledged.
        let mut written = Vec::new();
        let mut acked = 0;
        for line in rx.try_iter() {
            if let Some(rest) = line.strip_prefix("ack ") {
                acked = rest.parse::<usize>().unwrap();
            } else {
                written.push(parse_write(&line));
            }
        }
        assert!(acked <= written.len());

        let mut s = Storage::open(dir.path(), config.clone()).unwrap_or_else(|e| panic!("kill {kills}: open: {e}"));
        let got = load(&mut s).unwrap_or_else(|e| panic!("kill {kills}: load: {e}"));
        drop(s);
        // The durable state must be the acknowledged batches plus some
        // prefix of the ones in flight.
        let mut want = durable.clone();
        for p in &written[..acked] {
            apply_batch(&mut want, p);
        }
        let mut kept = acked;
        while want != got && kept < written.len() {
            apply_batch(&mut want, &written[kept]);
            kept += 1;
        }
        assert_eq!(got, want, "kill {kills} (seed {seed}): recovered state is no prefix at or past the last ack");
        history.extend(written.drain(..kept));
        durable = got;
        acked_total += acked;
        beyond_ack += kept - acked;
        kills += 1;
    }
    eprintln!(
        "{kills} kills in {:.1?}: {} batches durable ({acked_total} acknowledged, {beyond_ack} more recovered \
         that were written but not yet acknowledged; {} with snapshots), last index {}, {} segments on disk",
        started.elapsed(),
        history.len(),
        history.iter().filter(|p| p.snapshot.is_some()).count(),
        durable.entries.last().map_or(0, |e| e.index.0),
        names_with(dir.path(), ".wal").len(),
    );
    assert!(acked_total > 0, "the child never got a write acknowledged");
    assert_eq!(model(&history), durable);
}
