//! Fencing tokens: the number a lock grant carries, and the check a
//! resource server applies before acting on a holder's request.
//!
//! The lock service issues, with every grant, the log index of the entry
//! that granted it. Indexes only grow — across leader changes, restarts
//! and snapshots — so the token of a later grant of the same lock is
//! always larger. This is Chubby's sequencer (Burrows, OSDI 2006, §2.4)
//! and etcd's use of the lock key's revision; the Jepsen etcd 3.4.3
//! analysis showed that etcd locks are unsafe without one, because a
//! lease can lapse while its holder is paused and the lock pass to
//! another client before the first one notices.

use crate::id::LogIndex;

crate::id::id_type!(
    /// A lock grant's number: larger for every later grant of the same lock.
    FencingToken,
    "fence"
);

impl FencingToken {
    /// The token of a grant made by the entry at `index`.
    pub const fn from_index(index: LogIndex) -> FencingToken {
        FencingToken(index.0)
    }
}

/// A request carried a token older than one the resource already saw: its
/// sender lost the lock and must not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fencing token {token:?} is older than {highest:?}")]
pub struct StaleToken {
    /// The token that was refused.
    pub token: FencingToken,
    /// The highest token admitted so far.
    pub highest: FencingToken,
}

/// The check a resource server keeps per lock it is protected by.
///
/// It admits a request whose token is at least the highest it has
/// admitted — equal tokens are the same holder making several requests —
/// and refuses an older one. The guard must be updated atomically with
/// the action it protects (Chubby §2.4: the server checks the sequencer
/// before acting).
///
/// ```
/// use synod_core::lease::{FenceGuard, FencingToken};
///
/// let mut guard = FenceGuard::new();
/// guard.admit(FencingToken(7)).unwrap();
/// guard.admit(FencingToken(7)).unwrap(); // the same holder again
/// guard.admit(FencingToken(12)).unwrap(); // a later holder
/// assert!(guard.admit(FencingToken(7)).is_err()); // the first holder, woken from a pause
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FenceGuard {
    highest: Option<FencingToken>,
}

impl FenceGuard {
    /// A guard that has seen no token.
    pub const fn new() -> FenceGuard {
        FenceGuard { highest: None }
    }

    /// Admits `token` if no newer one was admitted, and remembers it.
    pub fn admit(&mut self, token: FencingToken) -> Result<(), StaleToken> {
        match self.highest {
            Some(highest) if token < highest => Err(StaleToken { token, highest }),
            _ => {
                self.highest = Some(token);
                Ok(())
            }
        }
    }

    /// The highest token admitted so far.
    pub const fn highest(&self) -> Option<FencingToken> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_admits_equal_and_newer_tokens_and_refuses_older_ones() {
        let mut g = FenceGuard::new();
        assert_eq!(g.highest(), None);
        assert_eq!(g.admit(FencingToken(5)), Ok(()));
        assert_eq!(g.admit(FencingToken(5)), Ok(()));
        assert_eq!(g.admit(FencingToken(9)), Ok(()));
        assert_eq!(g.admit(FencingToken(8)), Err(StaleToken { token: FencingToken(8), highest: FencingToken(9) }));
        assert_eq!(g.highest(), Some(FencingToken(9)), "a refused token does not move the guard");
    }

    #[test]
    fn a_token_is_the_index_of_the_granting_entry() {
        assert_eq!(FencingToken::from_index(LogIndex(42)), FencingToken(42));
    }
}
