//! Multi-Paxos knobs, with defaults fit for a LAN cluster.

use crate::id::NodeId;
use crate::replica::ConfigError;
use crate::replica::limits::check_common;
use crate::time::Duration;

pub use crate::replica::ReadMode;

/// Multi-Paxos configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// This node; below 65,536, so ballots pack into a `Term`.
    pub id: NodeId,
    /// Seed of the node's random generator (election timeouts).
    pub seed: u64,
    /// Minimum election timeout; a follower that hears no leader waits a
    /// random time in `[election_timeout, 2 * election_timeout)` before
    /// running phase 1, and acceptors refuse other candidates for this
    /// long after hearing from a leader.
    pub election_timeout: Duration,
    /// How often a leader sends heartbeats; well below `election_timeout`.
    pub heartbeat_interval: Duration,
    /// How reads are made linearizable.
    pub read_mode: ReadMode,
    /// Largest payload a proposal may carry.
    pub max_entry_bytes: usize,
    /// Byte budget of one accept batch (at least one entry is always sent).
    pub max_batch_bytes: usize,
    /// Most entries in one accept batch.
    pub max_batch_entries: usize,
    /// Accept batches in flight to one acceptor before waiting for acks.
    pub max_inflight_batches: usize,
    /// Bytes proposed but not yet chosen before proposals get `Busy`.
    pub max_uncommitted_bytes: usize,
    /// Reads waiting for confirmation before reads get `Busy`.
    pub max_pending_reads: usize,
    /// Bytes per snapshot chunk.
    pub snapshot_chunk_bytes: usize,
    /// Largest snapshot an acceptor takes, in bytes (`u64`: the same on
    /// every target; 0 is refused by `validate`).
    pub max_snapshot_bytes: u64,
    /// Chosen entries a promise may carry to a lagging candidate; past it
    /// (or past the acceptor's snapshot) the candidate is refused and a
    /// better-informed node must lead.
    pub max_promise_bytes: usize,
    /// How many applied entries memory keeps for lagging peers. `None`
    /// (the default): every entry stays in memory until compacted, and no
    /// [`LogRead`](crate::replica::LogRead) is ever asked for. `Some(n)`:
    /// the log keeps only what is not yet durable or applied, plus — on a
    /// leader — what its peers still lack, at most `n` entries; entries
    /// older than that are read back from the caller's storage for a peer
    /// that needs them (one copy of the log instead of two).
    pub retained_entries: Option<u64>,
}

impl Config {
    /// Defaults for node `id` with random seed `seed`: election timeout
    /// 500 ms (randomised per election between it and twice it), heartbeat
    /// 50 ms, reads by [`ReadMode::ReadIndex`], entries up to 8 MiB,
    /// accept batches up to 1 MiB and 4,096 entries, 256 batches in flight
    /// per acceptor, 256 MiB of unchosen entries, 65,536 pending reads,
    /// snapshot chunks of 1 MiB, snapshots up to 4 GiB, promises up to
    /// 8 MiB, every entry kept in memory until compacted
    /// (`retained_entries: None`).
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            seed,
            election_timeout: Duration::from_millis(500),
            heartbeat_interval: Duration::from_millis(50),
            read_mode: ReadMode::ReadIndex,
            max_entry_bytes: 8 << 20,
            max_batch_bytes: 1 << 20,
            max_batch_entries: 4096,
            max_inflight_batches: 256,
            max_uncommitted_bytes: 256 << 20,
            max_pending_reads: 1 << 16,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: crate::replica::limits::DEFAULT_MAX_SNAPSHOT_BYTES,
            max_promise_bytes: 8 << 20,
            retained_entries: None,
        }
    }

    /// Checks that the knobs make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id.0 >= crate::paxos::MAX_NODES {
            return Err(ConfigError::NodeIdTooLarge(self.id));
        }
        let limits = [
            self.max_batch_entries as u64,
            self.max_inflight_batches as u64,
            self.snapshot_chunk_bytes as u64,
            self.max_snapshot_bytes,
            self.max_pending_reads as u64,
        ];
        check_common(self.heartbeat_interval, self.election_timeout, self.read_mode, &limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_combinations_are_refused() {
        let c = Config::new(NodeId(1), 0);
        assert_eq!(c.validate(), Ok(()));
        let mut bad = c.clone();
        bad.id = NodeId(65_536);
        assert_eq!(bad.validate(), Err(ConfigError::NodeIdTooLarge(NodeId(65_536))));
        bad.id = NodeId(65_535);
        assert_eq!(bad.validate(), Ok(()));
        let mut bad = c.clone();
        bad.heartbeat_interval = bad.election_timeout;
        assert_eq!(bad.validate(), Err(ConfigError::HeartbeatNotBelowElectionTimeout));
        let mut bad = c.clone();
        bad.read_mode = ReadMode::Lease { max_clock_drift: c.election_timeout };
        assert_eq!(bad.validate(), Err(ConfigError::DriftExceedsLease));
        let zeroed: [fn(&mut Config); 5] = [
            |c| c.max_batch_entries = 0,
            |c| c.max_inflight_batches = 0,
            |c| c.snapshot_chunk_bytes = 0,
            |c| c.max_pending_reads = 0,
            |c| c.max_snapshot_bytes = 0,
        ];
        for zero in zeroed {
            let mut bad = c.clone();
            zero(&mut bad);
            assert_eq!(bad.validate(), Err(ConfigError::ZeroLimit));
        }
        let mut bad = c.clone();
        bad.heartbeat_interval = Duration::ZERO;
        assert_eq!(bad.validate(), Err(ConfigError::HeartbeatNotBelowElectionTimeout));
        let mut ok = c;
        ok.read_mode = ReadMode::Lease { max_clock_drift: ok.election_timeout - Duration::from_nanos(1) };
        assert_eq!(ok.validate(), Ok(()));
    }
}
