//! One simulated node: a replica of any protocol, its disk, its service,
//! and the client requests it holds.

use super::disk::Disk;
use std::collections::BTreeMap;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{ReadId, Replica};
use synod_core::service::Store;
use synod_core::time::Instant;

/// A client request a node is holding until it can answer.
#[derive(Clone, Copy, Debug)]
pub enum Pending {
    /// A KV operation of the recorded history.
    Kv {
        /// The client (position).
        client: usize,
        /// The history id of the operation.
        op: usize,
    },
    /// A lock client's step.
    Lock {
        /// The lock client (position).
        client: usize,
        /// Its request number.
        seq: u64,
    },
}

/// A node's monotonic clock, as a process sees it: it starts at some
/// reading when the process starts (`offset` at global time `start`) and
/// runs at `1 + ppm / 1e6` of real time. A restart is a new process, so a
/// new epoch: `start` moves and `offset` is drawn again, as a real
/// runtime's clock starts again near zero. Nothing may compare readings
/// from two lives or two nodes.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Global time the process started, ns.
    pub start: u64,
    /// The reading at `start`, ns.
    pub offset: u64,
    /// Drift, parts per million (may be negative); the machine's, so it
    /// survives restarts.
    pub ppm: i64,
}

impl Clock {
    /// Local time at global time `g` (no earlier than the process start).
    pub fn local(&self, g: u64) -> u64 {
        let run = g.saturating_sub(self.start);
        let drift = (run as i128 * self.ppm as i128 / 1_000_000) as i64;
        (self.offset as i64 + run as i64 + drift).max(0) as u64
    }

    /// The earliest global time at which local time reaches `l`.
    pub fn global(&self, l: u64) -> u64 {
        if self.local(self.start) >= l {
            return self.start;
        }
        let run = (l.saturating_sub(self.offset) as i128 * 1_000_000 / (1_000_000 + self.ppm as i128)) as u64;
        let mut g = (self.start + run).saturating_sub(4).max(self.start);
        while self.local(g) < l {
            g += 1;
        }
        g
    }

    /// The clock of the same machine's next process, started at `now`
    /// with the reading `offset`.
    pub fn restarted(&self, now: u64, offset: u64) -> Clock {
        Clock { start: now, offset, ppm: self.ppm }
    }
}

/// One node.
pub struct SimNode {
    /// Its id.
    pub id: NodeId,
    /// The replica (any protocol).
    pub replica: Box<dyn Replica>,
    /// False while crashed.
    pub up: bool,
    /// Its storage.
    pub disk: Disk,
    /// Its service state (volatile; rebuilt on restart).
    pub store: Store,
    /// When, as leader, it next proposes a tick (global time).
    pub next_tick: Option<u64>,
    /// The term and local time of its last tick as leader: the next tick
    /// carries the time elapsed since, on this process's clock.
    pub tick_base: Option<(Term, Instant)>,
    /// Its disk lost the log but kept the identity: a correct node
    /// refuses to start on it ([`StoreError::LogLost`]).
    ///
    /// [`StoreError::LogLost`]: synod_net::store::StoreError::LogLost
    pub wiped: bool,
    /// Highest index handed to the service in this life.
    pub applied: LogIndex,
    /// Highest commit index seen in this life.
    pub commit: LogIndex,
    /// Proposals waiting to commit: index → (term, hash of the command,
    /// request).
    pub proposals: BTreeMap<u64, (Term, u64, Pending)>,
    /// Reads waiting for confirmation.
    pub reads: BTreeMap<ReadId, Pending>,
    /// Confirmed reads waiting for the service to reach their index.
    pub ready_reads: Vec<(LogIndex, Pending)>,
    /// Its clock.
    pub clock: Clock,
    /// The global time its timer is scheduled for.
    pub timer_at: Option<u64>,
    /// The global time its next sync is scheduled for.
    pub sync_at: Option<u64>,
    /// Whether it currently believes itself leader (to spot new leaderships).
    pub leading: Option<Term>,
    /// Compact once this many entries are applied past the last snapshot.
    pub snapshot_every: u64,
    /// Where the last snapshot was taken.
    pub snapshot_index: LogIndex,
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_restarted_clock_starts_a_new_epoch_and_global_inverts_local() {
        let c = Clock { start: 0, offset: 7_000_000_000, ppm: 4_000 };
        let r = c.restarted(2_000_000_000, 5);
        assert_eq!(r.local(2_000_000_000), 5);
        assert_eq!(r.local(1_000_000_000), 5, "no reading before the process started");
        assert_eq!(r.local(3_000_000_000), 5 + 1_004_000_000, "the machine's drift is kept");
        for clock in [c, r, Clock { start: 10, offset: 3, ppm: -4_999 }] {
            for l in [0, 1, 999_999, 1_234_567_891, 9_000_000_000] {
                let g = clock.global(l);
                assert!(clock.local(g) >= l && (g == clock.start || clock.local(g - 1) < l), "{clock:?} {l}");
            }
        }
    }
}
