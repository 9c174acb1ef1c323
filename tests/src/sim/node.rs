//! One simulated node: a replica of any protocol, its disk, its service,
//! and the client requests it holds.

use super::disk::Disk;
use std::collections::BTreeMap;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{ReadId, Replica};
use synod_core::service::Store;

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

/// A node's clock: `local = offset + global * (1 + ppm / 1e6)`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Skew at global time zero, ns.
    pub offset: u64,
    /// Drift, parts per million (may be negative).
    pub ppm: i64,
}

impl Clock {
    /// Local time at global time `g`.
    pub fn local(&self, g: u64) -> u64 {
        let drift = (g as i128 * self.ppm as i128 / 1_000_000) as i64;
        (self.offset as i64 + g as i64 + drift).max(0) as u64
    }

    /// The earliest global time at which local time reaches `l`.
    pub fn global(&self, l: u64) -> u64 {
        if self.local(0) >= l {
            return 0;
        }
        let approx = (l.saturating_sub(self.offset) as i128 * 1_000_000 / (1_000_000 + self.ppm as i128)) as u64;
        let mut g = approx.saturating_sub(4);
        while self.local(g) < l {
            g += 1;
        }
        g
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
