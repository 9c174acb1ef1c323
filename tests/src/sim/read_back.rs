//! Reading the log back from the simulated disk: in some runs the replicas
//! keep only a short tail of their log in memory (`retained_entries`), and
//! a leader asks its node to read older entries back for a lagging peer
//! (`synod_core::replica::LogRead`). The disk answers after a seeded
//! latency — now and then longer than an election timeout, so the replica
//! gives up and asks again — fails some reads, and loses those in flight
//! when the node crashes.

use super::Canary;
use super::disk::mix;
use super::invariants::Violation;
use super::world::{Kind, World};
use synod_core::rand::Rng;
use synod_core::replica::{EntryKind, LogRead, LogReadError, LogReadFailed};

/// How the runs of a seed read back, drawn on a generator of its own so
/// that runs which never read back replay as before.
#[derive(Debug)]
pub struct ReadBacks {
    rng: Rng,
    /// The replicas' `retained_entries`.
    pub retained: Option<u64>,
    /// Chance a read fails.
    fail: f64,
    /// Chance a read takes longer than an election timeout.
    slow: f64,
}

impl ReadBacks {
    /// The read-back behaviour of `seed`: half the seeds keep every entry
    /// in memory (and never read back).
    pub fn draw(seed: u64) -> ReadBacks {
        let mut rng = Rng::with_seed(mix(seed, 0x7265_6164_6261_636b));
        let retained = if rng.chance(0.5) { None } else { Some(rng.range(0, 64)) };
        let fail = [0.0, 0.05, 0.3][rng.below(3) as usize];
        let slow = [0.0, 0.02][rng.below(2) as usize];
        ReadBacks { rng, retained, fail, slow }
    }
}

impl World {
    /// Node `i` asks for `read`: the disk answers after a while.
    pub(super) fn start_log_read(&mut self, i: usize, read: LogRead) {
        self.stats.log_reads += 1;
        let rb = &mut self.read_backs;
        let latency = if rb.rng.chance(rb.slow) {
            rb.rng.range(200_000_000, 400_000_000)
        } else {
            rb.rng.range(10_000, 2_000_000)
        };
        let life = self.nodes[i].life;
        self.schedule(self.now + latency, Kind::LogRead { node: i, life, read });
    }

    /// The disk of node `i` answers `read` (lost if the node restarted).
    pub(super) fn answer_log_read(&mut self, i: usize, life: u64, read: LogRead) {
        if !self.nodes[i].up || self.nodes[i].life != life {
            return;
        }
        let result = if self.read_backs.rng.chance(self.read_backs.fail) {
            self.stats.log_reads_failed += 1;
            Err(LogReadFailed)
        } else {
            let entries = &self.nodes[i].disk.durable.entries;
            let k = entries.partition_point(|e| e.index < read.from);
            let mut entries = read.take(entries[k..].iter().cloned());
            if self.cfg.canary == Some(Canary::CorruptReadBack)
                && let Some(e) = entries.iter_mut().find(|e| e.kind == EntryKind::Command)
            {
                e.data = bytes::Bytes::from(format!("{:?}, altered on the way back", e.data));
            }
            Ok(entries)
        };
        let now = self.local(i);
        match self.nodes[i].machine.handle_log_read(now, read, result) {
            Ok(()) | Err(LogReadError::Failed) => {}
            Err(LogReadError::WrongTerm(index)) => {
                // Entries are trimmed only once durable and applied, and an
                // applied entry is never rewritten: the disk must agree.
                let id = self.nodes[i].id;
                let v = Violation::new(
                    "a read-back matches the log",
                    format!("{id:?}: the disk's entry at {index} is not of the term the replica knows"),
                );
                self.fail(v);
            }
            // A snapshot reached the disk since the read was asked for: the
            // entries are gone, and the peer gets the snapshot instead.
            Err(_) => self.stats.log_reads_refused += 1,
        }
        self.drain(i);
    }
}
