//! What the node needs from an async runtime, so it runs on any.

use futures::future::BoxFuture;
use synod_core::time::Instant;

/// Spawning, sleeping and telling time. Implemented by the tokio and smol
/// adapters; tests can use a manual clock.
pub trait Runtime: Send + Sync + 'static {
    /// Runs `fut` in the background.
    fn spawn(&self, fut: BoxFuture<'static, ()>);

    /// Completes at (or soon after) `deadline` on this runtime's clock.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// The current time: nanoseconds since this runtime's epoch.
    fn now(&self) -> Instant;
}
