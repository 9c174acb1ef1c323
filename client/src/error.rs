//! What a call can end in.

/// Why a call has no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No endpoint answered within the retry budget. A read did nothing;
    /// a write may or may not have been applied (see [`Error::MaybeApplied`]
    /// for why a write says so itself).
    #[error("no endpoint answered in {0:?}: {1}")]
    Unavailable(core::time::Duration, String),
    /// A write whose session expired or was evicted while it was in
    /// flight: applied once or not at all, the client cannot tell. The
    /// client opens a new session for the next write.
    #[error("the session was lost; the write may have been applied once")]
    MaybeApplied,
    /// The server refused the command (a wrong type, a bad argument, no
    /// permission): nothing was applied, and retrying will not help.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// The server answered something this client does not understand.
    #[error("unexpected reply: {0}")]
    Protocol(String),
    /// The lease a lock was asked under is lost (expired, revoked, or
    /// its keep-alives failed past the grace period).
    #[error("the lease is lost")]
    LeaseLost,
    /// The client was built without endpoints.
    #[error("no endpoints configured")]
    NoEndpoints,
}
