//! Size limits both protocols enforce, computed in `u64` so that they mean
//! the same on a 32-bit target as on a 64-bit one (a `usize` limit of
//! 4 GiB is 0 on a 32-bit target, and would refuse every snapshot).

use super::{ConfigError, ReadMode};
use crate::time::Duration;

/// True if a snapshot of which `have` bytes arrived can take `more` bytes
/// without passing `max`.
pub(crate) fn snapshot_fits(have: usize, more: usize, max: u64) -> bool {
    (have as u64).saturating_add(more as u64) <= max
}

/// The default largest snapshot a follower accepts: 4 GiB on every target.
pub(crate) const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

/// The checks every protocol's `Config::validate` makes: the heartbeat
/// fits inside the election timeout, a lease is shorter than the
/// election timeout by more than the drift bound, and no limit that
/// bounds progress is zero (a zero would stall replication, reads or
/// snapshot catch-up for good).
pub(crate) fn check_common(
    heartbeat_interval: Duration,
    election_timeout: Duration,
    read_mode: ReadMode,
    nonzero_limits: &[u64],
) -> Result<(), ConfigError> {
    if heartbeat_interval.is_zero() || heartbeat_interval >= election_timeout {
        return Err(ConfigError::HeartbeatNotBelowElectionTimeout);
    }
    if let ReadMode::Lease { max_clock_drift } = read_mode
        && max_clock_drift >= election_timeout
    {
        return Err(ConfigError::DriftExceedsLease);
    }
    if nonzero_limits.contains(&0) {
        return Err(ConfigError::ZeroLimit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_snapshot_limit_is_four_gibibytes_whatever_the_pointer_width() {
        assert_eq!(DEFAULT_MAX_SNAPSHOT_BYTES, 4_294_967_296);
        // What a 32-bit `usize` made of the same expression.
        assert_eq!(4u32.wrapping_shl(30), 0);
    }

    #[test]
    fn the_check_holds_around_the_32_bit_boundary() {
        // Sizes a 32-bit target can hold, against limits it cannot.
        let near = u32::MAX as usize;
        assert!(snapshot_fits(near, 1, DEFAULT_MAX_SNAPSHOT_BYTES), "exactly 4 GiB fits");
        assert!(!snapshot_fits(near, 2, DEFAULT_MAX_SNAPSHOT_BYTES));
        assert!(snapshot_fits(near, near, 8 << 30));
        assert!(!snapshot_fits(3 << 30, 1 << 30, (4 << 30) - 1));
        assert!(snapshot_fits(0, 0, 0));
        assert!(!snapshot_fits(0, 1, 0));
        assert!(!snapshot_fits(usize::MAX, usize::MAX, u64::MAX - 1) || usize::BITS < 64);
    }
}
