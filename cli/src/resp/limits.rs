//! What one client may make a node hold or do, and how many clients a
//! process takes.
//!
//! Per connection, the server holds at most one request
//! ([`ParseLimits::max_request`]), one reply ([`RespLimits::max_reply`]) and
//! [`FLUSH_AT`] bytes of replies not yet written: it stops reading a
//! client's requests while that client's replies wait, so a client that
//! pipelines without reading gets nothing more computed for it, and one
//! that makes no progress for [`RespLimits::stall_timeout`] is
//! disconnected (Redis's `client-output-buffer-limit`).
//!
//! Per process, clients are limited to what the file-descriptor limit
//! leaves once storage, peers and the process itself are served
//! ([`fit_clients`]), the way Redis fits `maxclients` to `ulimit -n`: a
//! client past the limit is told `-ERR max number of clients reached` and
//! closed, and storage never runs out of descriptors.

use super::parse::ParseLimits;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use synod_core::time::Duration;

/// Replies buffered for a client before they are written out, and reading
/// its requests pauses.
pub const FLUSH_AT: usize = 64 << 10;

/// Bounds on each client of the RESP front end.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RespLimits {
    /// Bounds on one request: arguments, bytes, inline line length.
    pub parse: ParseLimits,
    /// Largest reply; a larger one is replaced by an error.
    pub max_reply: usize,
    /// A client that sends no command for this long is disconnected
    /// (Redis's `timeout`); `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A client that leaves a request half-sent, or its replies unread,
    /// with no progress for this long is disconnected.
    pub stall_timeout: Duration,
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits {
            parse: ParseLimits::default(),
            max_reply: 8 << 20,
            idle_timeout: None,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// The clients a process serves, shared by all its nodes' front ends.
#[derive(Debug)]
pub struct ClientSlots {
    max: usize,
    used: AtomicUsize,
}

impl ClientSlots {
    /// Room for `max` clients at once.
    pub fn new(max: usize) -> Arc<ClientSlots> {
        Arc::new(ClientSlots { max, used: AtomicUsize::new(0) })
    }

    /// A slot for one more client, if there is room; freed on drop.
    pub fn take(self: &Arc<Self>) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Clients connected now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// One connected client's place; frees it when dropped.
#[derive(Debug)]
pub struct Slot(Arc<ClientSlots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Descriptors a process keeps for everything but clients: `nodes` nodes,
/// each with `peers` peers. Per node: the log (lock, segment, snapshot
/// file, directory syncs, reads at start: 8), the peer transport (a dialed
/// and an accepted connection per peer, plus handshakes in progress: 4 per
/// peer and 8), and 8 to spare; per process: the runtime, listeners, the
/// metrics server and the standard streams, 64.
pub fn reserved_fds(nodes: usize, peers: usize) -> u64 {
    64 + nodes as u64 * (24 + 4 * peers as u64)
}

/// Raises the soft descriptor limit as far as the hard one allows and
/// returns how many clients fit: `wanted`, or fewer if the limit leaves
/// less once `reserved` descriptors are kept. Refuses a limit that leaves
/// no room for a single client.
pub fn fit_clients(wanted: usize, reserved: u64) -> Result<usize, String> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).map_err(|e| format!("reading the file limit: {e}"))?;
    let room = limit.saturating_sub(reserved);
    if room == 0 {
        return Err(format!(
            "the file descriptor limit ({limit}) leaves no room for clients once {reserved} are kept for storage \
             and peers; raise it (ulimit -n)"
        ));
    }
    let fit = usize::try_from(room).unwrap_or(usize::MAX).min(wanted);
    if fit < wanted {
        tracing::warn!(
            limit,
            reserved,
            maxclients = fit,
            wanted,
            "the file descriptor limit lowers the client limit; raise it (ulimit -n) for more clients"
        );
    }
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_freed() {
        let slots = ClientSlots::new(2);
        let a = slots.take().unwrap();
        let b = slots.take().unwrap();
        assert!(slots.take().is_none(), "a third client past a limit of 2");
        assert_eq!(slots.in_use(), 2);
        drop(a);
        let c = slots.take().expect("a freed slot is reused");
        drop((b, c));
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn the_reserve_grows_with_nodes_and_peers() {
        assert!(reserved_fds(3, 2) > reserved_fds(1, 2));
        assert!(reserved_fds(1, 4) > reserved_fds(1, 2));
    }
}
