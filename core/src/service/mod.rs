//! Deterministic state machines applied to committed log entries.
//!
//! A [`Service`] sees only committed commands, in log order, and answers
//! read-only queries against what it has applied. Commands and replies
//! are bytes at this boundary, so the node driver stays protocol- and
//! service-agnostic; each service defines its own typed, versioned
//! encoding (see [`kv`]).
//!
//! [`Store`] is the service the `synod` binary and the simulator run: the
//! [`kv`] map plus [`Leases`], [`Locks`] with fencing tokens, and client
//! [`Sessions`] for exactly-once commands, driven by [`Command`]s and
//! [`Query`]s and answering [`Reply`]s. Time enters only as `Tick` commands
//! the leader proposes ([`clock`] rules; [`Store`] shows the drive loop).
//!
//! | module | what it holds |
//! |---|---|
//! | [`codec`] | bounded decoding helpers |
//! | [`kv`] | the key-value map |
//! | [`keyspace`] | Redis's string and key commands, TTLs as leases |
//! | [`clock`] | log time, and why a TTL counts from the next tick |
//! | [`leases`] | the lease table: grant, keep-alive, revoke, expiry |
//! | [`locks`] | FIFO lock queues and fencing tokens |
//! | [`session`] | client sessions and sequence numbers |
//! | [`command`] | [`Command`], [`Op`], [`Query`] and their encodings |
//! | [`reply`] | [`Reply`], [`StoreError`] and their encoding |
//! | [`store`] | [`Store`], the combined service, and how to drive it |
//! | [`snapshot`] | the store's canonical snapshot format |

pub mod clock;
pub mod codec;
pub mod command;
pub mod hashed;
pub mod keyspace;
pub mod kv;
pub mod leases;
pub mod locks;
pub mod reply;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod transaction;
pub mod versions;

#[cfg(test)]
mod tests;

pub use command::{Caller, ClientSeq, Command, Op, Query};
pub use leases::{Lease, LeaseError, LeaseInfo, Leases};
pub use locks::{Acquired, LockError, LockOwner, Locks};
pub use reply::{Reply, StoreError};
pub use session::{Bounds as SessionBounds, ClientId, Seq, SessionError, Sessions};
pub use store::{Config, Store};
pub use transaction::{Step, Transaction, Watched};

use crate::id::LogIndex;
use bytes::Bytes;

/// A replicated state machine.
///
/// Determinism is the contract: the same commands in the same order give
/// the same replies and the same state on every replica. A service never
/// reads a clock or a random generator; time enters only through commands.
pub trait Service {
    /// Applies a committed command and returns the reply for its proposer.
    /// Malformed or refused commands produce an error reply, never a panic,
    /// and leave the state unchanged.
    fn apply(&mut self, index: LogIndex, command: &Bytes) -> Bytes;

    /// Answers a read-only query against the state applied so far.
    fn query(&self, query: &Bytes) -> Bytes;

    /// Checks a client's command before it is proposed. `Err(reply)` is a
    /// refusal [`Service::apply`] would give whatever the state, answered
    /// without appending anything to the log: a command the service would
    /// refuse for its size or its form never costs disk on any replica.
    /// Only what depends on the command alone may be checked here; state
    /// can change before the command would apply. The default admits
    /// everything.
    fn check(&self, command: &Bytes) -> Result<Admitted, Bytes> {
        let _ = command;
        Ok(Admitted::new(true))
    }

    /// The whole state, for a snapshot.
    fn snapshot(&self) -> Bytes;

    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError>;

    /// The last index applied (or restored).
    fn applied(&self) -> LogIndex;
}

/// A boxed service is a service: a node can hold `Box<dyn Service + Send>`
/// and a harness its concrete type, through the same code.
impl<S: Service + ?Sized> Service for alloc::boxed::Box<S> {
    fn apply(&mut self, index: LogIndex, command: &Bytes) -> Bytes {
        (**self).apply(index, command)
    }
    fn query(&self, query: &Bytes) -> Bytes {
        (**self).query(query)
    }
    fn check(&self, command: &Bytes) -> Result<Admitted, Bytes> {
        (**self).check(command)
    }
    fn snapshot(&self) -> Bytes {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError> {
        (**self).restore(snapshot)
    }
    fn applied(&self) -> LogIndex {
        (**self).applied()
    }
}

/// A command [`Service::check`] let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// False if the command can only remove state or keep what exists
    /// alive: a node out of disk still admits those.
    pub grows: bool,
    /// True if a second copy of the command in the log is harmless (it
    /// is numbered in a client session, so a copy is answered from the
    /// session and applied at most once): a node may then send it again
    /// to a new leader itself when the old one goes, instead of answering
    /// "maybe applied".
    pub resend_safe: bool,
}

impl Admitted {
    /// A command that may (`true`) or cannot (`false`) grow the state, not
    /// safe to send twice.
    pub fn new(grows: bool) -> Admitted {
        Admitted { grows, resend_safe: false }
    }

    /// The same, marked safe (or not) to send again.
    pub fn resend_safe(self, safe: bool) -> Admitted {
        Admitted { resend_safe: safe, ..self }
    }
}

/// Why a snapshot could not be restored. The service is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The snapshot is not in a format this service wrote.
    #[error("snapshot is malformed: {0}")]
    Malformed(&'static str),
    /// The snapshot was written by a newer version of the service.
    #[error("snapshot version {0} is not supported")]
    UnsupportedVersion(u8),
}
