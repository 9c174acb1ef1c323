//! Leases and locks as a client and a resource server see them.
//!
//! The replicated side — the lease table, the lock queues, expiry decided
//! inside the log — lives in [`crate::service`] ([`crate::service::Leases`],
//! [`crate::service::Locks`], the combined [`crate::service::Store`]). This
//! module holds what runs outside the replicated state machine:
//!
//! - [`LeaseTracker`]: the client's conservative local copy of its lease
//!   (Chubby §2.8), which tells it when it may no longer act as a holder;
//! - [`FencingToken`] and [`FenceGuard`]: the token a lock grant carries
//!   and the check a resource server applies to it, so that a holder whose
//!   lease ran out while it was paused cannot clobber its successor's work
//!   (Chubby §2.4 sequencers; the Jepsen etcd 3.4.3 analysis).
//!
//! A lease is only as safe as the fencing behind it: a client paused past
//! its lease (GC, swap, a stopped VM) wakes up believing it still holds the
//! lock. The tracker shrinks that window, the fence closes it.

pub mod fencing;
pub mod tracker;

pub use fencing::{FenceGuard, FencingToken, StaleToken};
pub use tracker::{LeaseState, LeaseTracker, TrackerConfig};

crate::id::id_type!(
    /// A lease granted by the replicated lease table. Ids are dense and
    /// start at 1, so the table can tell a lease that ended from one that
    /// was never granted.
    LeaseId,
    "lease"
);
