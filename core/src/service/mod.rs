//! Deterministic state machines applied to committed log entries.
//!
//! A [`Service`] sees only committed commands, in log order, and answers
//! read-only queries against what it has applied. Commands and replies
//! are bytes at this boundary, so the node driver stays protocol- and
//! service-agnostic; each service defines its own typed, versioned
//! encoding (see [`kv`]).

pub mod codec;
pub mod kv;

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

    /// The whole state, for a snapshot.
    fn snapshot(&self) -> Bytes;

    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError>;

    /// The last index applied (or restored).
    fn applied(&self) -> LogIndex;
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
