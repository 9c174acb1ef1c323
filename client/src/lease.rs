//! Leases kept alive in the background and locks held under them, with
//! the fencing token the store hands out.
//!
//! A lease is granted in the client's session, so it belongs to the
//! session (or to the named user), not to one connection: after a
//! fail-over the client's next connection, to any node, keeps it alive.
//! The client's view of the lease is core's [`LeaseTracker`] (Chubby
//! §2.8): counted from when each request was *sent*, less a drift
//! allowance, so it never outlives the store's; `Jeopardy` once
//! keep-alives stop getting through, `Grace` once the local lease ran
//! out (act on nothing, keep trying), `Expired` after the grace period.

use crate::Error;
use crate::client::Client;
use bytes::Bytes;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use redis_protocol::resp2::types::BytesFrame;
use std::sync::{Arc, Mutex};
use synod_core::lease::{LeaseState, LeaseTracker};

/// A lease the client keeps alive until it is dropped or revoked.
pub struct Lease {
    id: u64,
    shared: Arc<Shared>,
    client: Arc<Client>,
}

struct Shared {
    tracker: Mutex<LeaseTracker>,
    stop: AtomicBool,
}

impl Shared {
    fn tracker(&self) -> std::sync::MutexGuard<'_, LeaseTracker> {
        self.tracker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Lease {
    /// The lease's id in the store.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the lease stands now, as far as the client can tell.
    pub fn state(&self) -> LeaseState {
        self.shared.tracker().state(self.client.runtime.now())
    }

    /// True while the client may act as the lease's holder (`Safe` or
    /// `Jeopardy`): check it before acting on what the lease protects.
    pub fn may_act(&self) -> bool {
        self.shared.tracker().may_act(self.client.runtime.now())
    }

    /// Ends the lease now: its keys are deleted and its locks released.
    pub async fn revoke(self) -> Result<(), Error> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let reply = self.client.write(vec![b("LEASE"), b("REVOKE"), number(self.id)]).await?;
        match reply {
            BytesFrame::SimpleString(_) => Ok(()),
            other => Err(Error::Protocol(format!("{other:?}"))),
        }
    }
}

impl Drop for Lease {
    /// Stops the keep-alives; the lease then runs out on its own.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// A held lock: its fencing token goes with every write to what the lock
/// protects, so a resource can refuse a holder that lost the lock (Chubby
/// §2.4's sequencers). Released when dropped.
pub struct LockGuard {
    client: Arc<Client>,
    name: Bytes,
    lease: u64,
    token: u64,
    released: bool,
}

impl LockGuard {
    /// The fencing token: larger for every later holder.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Releases the lock now; the next waiter gets it.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        let args = vec![b("UNLOCK"), self.name.clone(), number(self.lease), number(self.token)];
        match self.client.write(args).await? {
            BytesFrame::SimpleString(_) => Ok(()),
            other => Err(Error::Protocol(format!("{other:?}"))),
        }
    }
}

impl Drop for LockGuard {
    /// Releases the lock in the background (on the client's runtime).
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let client = self.client.clone();
        let args = vec![b("UNLOCK"), self.name.clone(), number(self.lease), number(self.token)];
        self.client.runtime.spawn(Box::pin(async move {
            if let Err(e) = client.write(args).await {
                tracing::warn!(error = %e, "releasing a dropped lock failed; it ends with its lease");
            }
        }));
    }
}

impl Client {
    /// Grants a lease of `ttl` and keeps it alive in the background
    /// (every third of the TTL) until the [`Lease`] is dropped or revoked.
    pub async fn grant(self: &Arc<Self>, ttl: Duration) -> Result<Lease, Error> {
        let sent = self.runtime.now();
        let ms = ttl.as_millis().max(1) as u64;
        let id = match self.write(vec![b("LEASE"), b("GRANT"), number(ms)]).await? {
            BytesFrame::Integer(id) if id > 0 => id as u64,
            other => return Err(Error::Protocol(format!("{other:?}"))),
        };
        let tracker = LeaseTracker::new(self.cfg.lease, sent, ttl);
        let shared = Arc::new(Shared { tracker: Mutex::new(tracker), stop: AtomicBool::new(false) });
        self.runtime.spawn(Box::pin(keep_alive(self.clone(), shared.clone(), id, ttl)));
        Ok(Lease { id, shared, client: self.clone() })
    }

    /// Takes lock `name` under `lease`, waiting while another holds it;
    /// gives up with [`Error::LeaseLost`] if the lease is lost meanwhile.
    pub async fn lock(self: &Arc<Self>, name: impl Into<Bytes>, lease: &Lease) -> Result<LockGuard, Error> {
        let name = name.into();
        let mut pause = Duration::from_millis(20);
        loop {
            if !lease.may_act() {
                return Err(Error::LeaseLost);
            }
            // LOCK is idempotent: asking again answers the token once the
            // lock has come to this lease.
            match self.write(vec![b("LOCK"), name.clone(), number(lease.id)]).await? {
                BytesFrame::Integer(token) => {
                    let guard =
                        LockGuard { client: self.clone(), name, lease: lease.id, token: token as u64, released: false };
                    // The answer may come after the lease ran out here (a
                    // slow reply, a retry across a fail-over): the store
                    // may have handed the lock on already, so holding it
                    // now would overlap the next holder. Dropping the
                    // guard releases it if it is still ours.
                    if !lease.may_act() {
                        drop(guard);
                        return Err(Error::LeaseLost);
                    }
                    return Ok(guard);
                }
                BytesFrame::Null => {}
                other => return Err(Error::Protocol(format!("{other:?}"))),
            }
            self.runtime.sleep_until(self.runtime.now() + pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

/// Renews the lease every third of its TTL until told to stop or the
/// lease is lost. Each renewal may retry for a third of the TTL, so one
/// slow round does not hold up the next.
async fn keep_alive(client: Arc<Client>, shared: Arc<Shared>, id: u64, ttl: Duration) {
    loop {
        let next = shared.tracker().next_keep_alive();
        client.runtime.sleep_until(next).await;
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let sent = client.runtime.now();
        shared.tracker().keep_alive_sent(sent);
        let args = vec![b("LEASE"), b("KEEPALIVE"), number(id)];
        match client.write_within(args, ttl / 3).await {
            Ok(BytesFrame::Integer(_)) => shared.tracker().handle_renewed(client.runtime.now(), sent, ttl),
            Err(Error::Refused(why)) if why.contains("expired") || why.contains("unknown lease") => {
                shared.tracker().handle_lost();
            }
            Ok(_) | Err(_) => {}
        }
        if shared.tracker().state(client.runtime.now()) == LeaseState::Expired {
            return;
        }
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn number(n: u64) -> Bytes {
    Bytes::from(n.to_string())
}
