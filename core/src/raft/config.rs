//! Raft's knobs, with defaults fit for a LAN cluster.

use crate::id::NodeId;
use crate::replica::ConfigError;
use crate::replica::limits::check_common;
use crate::time::Duration;

pub use crate::replica::ReadMode;

/// Raft configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Seed of the node's random generator (election timeouts).
    pub seed: u64,
    /// Minimum election timeout; each election waits a random time in
    /// `[election_timeout, 2 * election_timeout)` (Raft §5.2).
    pub election_timeout: Duration,
    /// How often a leader sends heartbeats; well below `election_timeout`.
    pub heartbeat_interval: Duration,
    /// Ask "could I win?" before disrupting a cluster (thesis §9.6).
    pub pre_vote: bool,
    /// A leader steps down without a quorum of recent contact, and
    /// followers that heard from a leader recently refuse to vote (thesis
    /// §6.2, §4.2.3). Required by lease reads.
    pub check_quorum: bool,
    /// How reads are made linearizable.
    pub read_mode: ReadMode,
    /// Largest payload a proposal may carry.
    pub max_entry_bytes: usize,
    /// Byte budget of one append message (at least one entry is always sent).
    pub max_append_bytes: usize,
    /// Most entries in one append message.
    pub max_append_entries: usize,
    /// Append messages in flight to one follower before waiting for acks.
    pub max_inflight_msgs: usize,
    /// Bytes proposed but not yet committed before proposals get `Busy`.
    pub max_uncommitted_bytes: usize,
    /// Reads waiting for confirmation before reads get `Busy`.
    pub max_pending_reads: usize,
    /// Bytes per snapshot chunk.
    pub snapshot_chunk_bytes: usize,
    /// Largest snapshot a follower accepts, in bytes (`u64`: the same on
    /// every target; 0 is refused by `validate`).
    pub max_snapshot_bytes: u64,
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
    /// 50 ms, pre-vote and check-quorum on, reads by
    /// [`ReadMode::ReadIndex`], entries up to 8 MiB, appends up to 1 MiB
    /// and 4,096 entries, 256 appends in flight per follower, 256 MiB of
    /// uncommitted entries, 65,536 pending reads, snapshot chunks of
    /// 1 MiB, snapshots up to 4 GiB, every entry kept in memory until
    /// compacted (`retained_entries: None`).
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            seed,
            election_timeout: Duration::from_millis(500),
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: true,
            check_quorum: true,
            read_mode: ReadMode::ReadIndex,
            max_entry_bytes: 8 << 20,
            max_append_bytes: 1 << 20,
            max_append_entries: 4096,
            max_inflight_msgs: 256,
            max_uncommitted_bytes: 256 << 20,
            max_pending_reads: 1 << 16,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: crate::replica::limits::DEFAULT_MAX_SNAPSHOT_BYTES,
            retained_entries: None,
        }
    }

    /// Checks that the knobs make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Raft §9.6 / thesis §6.4.1: a lease rests on followers ignoring
        // candidates while they hear from the leader (check-quorum).
        if matches!(self.read_mode, ReadMode::Lease { .. }) && !self.check_quorum {
            return Err(ConfigError::LeaseNeedsCheckQuorum);
        }
        let limits = [
            self.max_append_entries as u64,
            self.max_inflight_msgs as u64,
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
        bad.heartbeat_interval = bad.election_timeout;
        assert_eq!(bad.validate(), Err(ConfigError::HeartbeatNotBelowElectionTimeout));
        let mut bad = c.clone();
        bad.check_quorum = false;
        bad.read_mode = ReadMode::Lease { max_clock_drift: Duration::from_millis(10) };
        assert_eq!(bad.validate(), Err(ConfigError::LeaseNeedsCheckQuorum));
        let mut bad = c.clone();
        bad.read_mode = ReadMode::Lease { max_clock_drift: c.election_timeout };
        assert_eq!(bad.validate(), Err(ConfigError::DriftExceedsLease));
        let mut bad = c.clone();
        bad.max_inflight_msgs = 0;
        assert_eq!(bad.validate(), Err(ConfigError::ZeroLimit));
        // A zero snapshot limit (what `4 << 30` was as a 32-bit `usize`)
        // would refuse every snapshot, and a lagging follower forever.
        let mut bad = c;
        bad.max_snapshot_bytes = 0;
        assert_eq!(bad.validate(), Err(ConfigError::ZeroLimit));
    }
}
