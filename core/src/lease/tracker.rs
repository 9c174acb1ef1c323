//! The client's local copy of its lease (Chubby §2.8).
//!
//! The service decides when a lease ends (inside the log, see
//! [`crate::service::Leases`]); the client can only estimate it, and its
//! estimate must never be later than the truth. Two rules make it
//! conservative:
//!
//! - the local lease counts from when the client *sent* the grant or
//!   keep-alive request, never from when the reply arrived: the service
//!   starts the lease's clock at the first tick applied after the request's
//!   entry, which is after the send, so `sent + ttl` is never later than the
//!   service's deadline (as measured by a clock running at the same rate);
//! - a drift allowance is subtracted, for clocks that run at different rates
//!   and for a new leader whose clock is ahead of the old one's:
//!   `sent + ttl − drift`.
//!
//! # States
//!
//! | state | while | the client |
//! |---|---|---|
//! | [`LeaseState::Safe`] | more than a third of the TTL is left | acts as holder |
//! | [`LeaseState::Jeopardy`] | less than a third left | still a holder, but two keep-alive rounds went unanswered: finish, start nothing long |
//! | [`LeaseState::Grace`] | the local lease ran out, for `grace` | must not act; keeps sending keep-alives — a reply to one sent now proves the lease survived and makes it safe again |
//! | [`LeaseState::Expired`] | after that, or once told the lease is gone | gives up everything; terminal |
//!
//! Chubby calls our `Grace` "jeopardy": the local lease has expired, the
//! library disables its cache and waits a grace period (45 s by default)
//! before telling the application the session is lost. We add the earlier
//! warning state because keep-alives go out every third of the TTL (as
//! etcd's client does), so two missed rounds are a useful signal while the
//! client may still act.
//!
//! # Call order
//!
//! 1. [`LeaseTracker::new`] with the time the grant request was sent and the
//!    TTL in its reply.
//! 2. Send a keep-alive when [`LeaseTracker::next_keep_alive`] passes; tell
//!    the tracker with [`LeaseTracker::keep_alive_sent`], keep the send time
//!    with the request, and hand it back with the reply to
//!    [`LeaseTracker::handle_renewed`] (or call [`LeaseTracker::handle_lost`]
//!    if the service says the lease is unknown or expired).
//!    A retried request (same session sequence number) keeps the *first*
//!    attempt's send time: the entry that took effect may be the first copy.
//! 3. Before acting as holder, check [`LeaseTracker::may_act`]`(now)`; wake
//!    at [`LeaseTracker::poll_timeout`] to notice state changes.
//!
//! ```
//! use core::time::Duration;
//! use synod_core::lease::{LeaseState, LeaseTracker, TrackerConfig};
//! use synod_core::time::Instant;
//!
//! let config = TrackerConfig { drift: Duration::from_millis(100), drift_ppm: 0, grace: Duration::from_secs(45) };
//! let sent = Instant::from_millis(1_000);
//! // The grant's reply arrives late; the lease still counts from the send.
//! let mut lease = LeaseTracker::new(config, sent, Duration::from_secs(9));
//! assert_eq!(lease.local_expiry(), Instant::from_millis(9_900));
//! assert_eq!(lease.state(Instant::from_millis(6_000)), LeaseState::Safe);
//! assert_eq!(lease.state(Instant::from_millis(8_000)), LeaseState::Jeopardy);
//! assert!(!lease.may_act(Instant::from_millis(9_900)));
//! // A keep-alive sent during grace comes back: the lease survived.
//! lease.handle_renewed(Instant::from_millis(12_000), Instant::from_millis(11_000), Duration::from_secs(9));
//! assert_eq!(lease.state(Instant::from_millis(12_000)), LeaseState::Safe);
//! ```

use crate::time::{Duration, Instant, duration_nanos};

/// How conservative the local lease is, and how long to wait once it ran
/// out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Subtracted from every local lease: the bound on how far one
    /// leader's clock may be ahead of another's (a new leader ahead moves
    /// log time forward, see [`crate::service::clock`]), plus slack.
    pub drift: Duration,
    /// Further subtracted per TTL, in parts per million of it: the bound
    /// on relative clock rate error.
    pub drift_ppm: u32,
    /// How long after the local lease ran out the client keeps trying
    /// before it declares the lease lost (Chubby §2.8: 45 s).
    pub grace: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig { drift: Duration::from_millis(100), drift_ppm: 1_000, grace: Duration::from_secs(45) }
    }
}

/// Where a lease stands, from the client's side. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaseState {
    /// Comfortably held.
    Safe,
    /// Held, but keep-alives are not getting through.
    Jeopardy,
    /// Not held as far as the client can tell; it may yet learn it was.
    Grace,
    /// Lost. Terminal.
    Expired,
}

/// The client's conservative local lease. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTracker {
    config: TrackerConfig,
    ttl: Duration,
    expiry: Instant,
    last_sent: Instant,
    lost: bool,
}

impl LeaseTracker {
    /// A tracker for a lease whose grant was requested at `sent` and
    /// granted with `ttl`.
    pub fn new(config: TrackerConfig, sent: Instant, ttl: Duration) -> LeaseTracker {
        let mut t = LeaseTracker { config, ttl, expiry: Instant::ZERO, last_sent: sent, lost: false };
        t.expiry = t.local_expiry_for(sent, ttl);
        t
    }

    /// The service confirmed the lease (a keep-alive reply) for a request
    /// sent at `sent`, with `ttl`. Replies can arrive in any order; the
    /// local lease only ever moves forward. Ignored once the lease is
    /// [`LeaseState::Expired`] at `now`.
    pub fn handle_renewed(&mut self, now: Instant, sent: Instant, ttl: Duration) {
        if self.state(now) == LeaseState::Expired {
            self.lost = true;
            return;
        }
        self.ttl = ttl;
        self.expiry = self.expiry.max(self.local_expiry_for(sent, ttl));
    }

    /// The service said the lease is unknown or expired.
    pub fn handle_lost(&mut self) {
        self.lost = true;
    }

    /// A keep-alive request went out at `now`.
    pub fn keep_alive_sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    /// When the next keep-alive should go out: a third of the TTL after the
    /// last one, so two can be lost before the lease is in jeopardy.
    pub fn next_keep_alive(&self) -> Instant {
        self.last_sent + self.ttl / 3
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> LeaseState {
        if self.lost || now >= self.expiry + self.config.grace {
            LeaseState::Expired
        } else if now >= self.expiry {
            LeaseState::Grace
        } else if now >= self.jeopardy_at() {
            LeaseState::Jeopardy
        } else {
            LeaseState::Safe
        }
    }

    /// True if the client may act as the lease's holder at `now`.
    pub fn may_act(&self, now: Instant) -> bool {
        self.state(now) <= LeaseState::Jeopardy
    }

    /// When the local lease runs out.
    pub fn local_expiry(&self) -> Instant {
        self.expiry
    }

    /// The TTL last granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The next instant after `now` at which the state or the keep-alive
    /// schedule changes; `None` once expired.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.state(now) == LeaseState::Expired {
            return None;
        }
        [self.jeopardy_at(), self.expiry, self.expiry + self.config.grace, self.next_keep_alive()]
            .into_iter()
            .filter(|&t| t > now)
            .min()
    }

    fn jeopardy_at(&self) -> Instant {
        self.expiry.saturating_sub(self.ttl / 3)
    }

    fn local_expiry_for(&self, sent: Instant, ttl: Duration) -> Instant {
        let ppm = u128::from(duration_nanos(ttl)) * u128::from(self.config.drift_ppm) / 1_000_000;
        let allowance = self.config.drift.saturating_add(Duration::from_nanos(u64::try_from(ppm).unwrap_or(u64::MAX)));
        (sent + ttl).saturating_sub(allowance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_DRIFT: TrackerConfig =
        TrackerConfig { drift: Duration::ZERO, drift_ppm: 0, grace: Duration::from_secs(10) };

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn states_go_safe_jeopardy_grace_expired_as_time_passes() {
        let t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        assert_eq!(t.state(ms(5_999)), LeaseState::Safe);
        assert_eq!(t.state(ms(6_000)), LeaseState::Jeopardy);
        assert_eq!(t.state(ms(8_999)), LeaseState::Jeopardy);
        assert_eq!(t.state(ms(9_000)), LeaseState::Grace);
        assert_eq!(t.state(ms(18_999)), LeaseState::Grace);
        assert_eq!(t.state(ms(19_000)), LeaseState::Expired);
        assert!(t.may_act(ms(8_999)));
        assert!(!t.may_act(ms(9_000)));
    }

    #[test]
    fn the_local_lease_counts_from_the_send_not_the_reply() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        // A keep-alive sent at 4 s is answered at 8 s: the lease runs to 13 s, not 17 s.
        t.handle_renewed(ms(8_000), ms(4_000), Duration::from_secs(9));
        assert_eq!(t.local_expiry(), ms(13_000));
    }

    #[test]
    fn drift_allowance_shortens_the_local_lease() {
        let config = TrackerConfig { drift: Duration::from_millis(50), drift_ppm: 10_000, ..NO_DRIFT };
        let t = LeaseTracker::new(config, ms(1_000), Duration::from_secs(10));
        // 10 s − 50 ms − 1% of 10 s.
        assert_eq!(t.local_expiry(), ms(10_850));
        let huge = TrackerConfig { drift: Duration::from_secs(60), ..NO_DRIFT };
        assert_eq!(LeaseTracker::new(huge, ms(1_000), Duration::from_secs(10)).local_expiry(), ms(0));
    }

    #[test]
    fn a_late_reply_to_an_older_keep_alive_never_shortens_the_lease() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        t.handle_renewed(ms(5_000), ms(3_000), Duration::from_secs(9));
        t.handle_renewed(ms(6_000), ms(1_000), Duration::from_secs(9));
        assert_eq!(t.local_expiry(), ms(12_000));
    }

    #[test]
    fn a_renewal_during_grace_makes_the_lease_safe_again() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        assert_eq!(t.state(ms(10_000)), LeaseState::Grace);
        t.handle_renewed(ms(10_500), ms(10_000), Duration::from_secs(9));
        assert_eq!(t.state(ms(10_500)), LeaseState::Safe);
    }

    #[test]
    fn expired_is_terminal_even_if_a_reply_arrives_later() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        t.handle_renewed(ms(20_000), ms(18_000), Duration::from_secs(9));
        assert_eq!(t.state(ms(20_000)), LeaseState::Expired);
        assert_eq!(t.state(ms(20_001)), LeaseState::Expired);
        assert_eq!(t.poll_timeout(ms(20_001)), None);
    }

    #[test]
    fn being_told_the_lease_is_gone_expires_it_at_once() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        t.handle_lost();
        assert_eq!(t.state(ms(1)), LeaseState::Expired);
        assert!(!t.may_act(ms(1)));
    }

    #[test]
    fn keep_alives_are_due_every_third_of_the_ttl_and_wake_the_client() {
        let mut t = LeaseTracker::new(NO_DRIFT, ms(0), Duration::from_secs(9));
        assert_eq!(t.next_keep_alive(), ms(3_000));
        assert_eq!(t.poll_timeout(ms(0)), Some(ms(3_000)));
        t.keep_alive_sent(ms(3_000));
        assert_eq!(t.next_keep_alive(), ms(6_000));
        // Jeopardy (6 s) and the next keep-alive coincide; then expiry, then the end of grace.
        assert_eq!(t.poll_timeout(ms(3_000)), Some(ms(6_000)));
        assert_eq!(t.poll_timeout(ms(6_000)), Some(ms(9_000)));
        assert_eq!(t.poll_timeout(ms(9_000)), Some(ms(19_000)));
    }
}
