//! Deadlines in log time.
//!
//! Replicas never read a clock while applying. The leader proposes the
//! passage of time as tick entries, and log time is what they add up to.
//!
//! **Durations, not instants.** A tick ([`Op::Clock`](super::Op::Clock))
//! carries the time its leader measured on its own monotonic clock since
//! its previous tick, and the leader's term. Log time is the sum. No
//! process's epoch enters the log, so log time means the same after a
//! restart (a monotonic clock starts again at zero) and across a leader
//! change to a process of any age. This is how Chubby and etcd measure
//! leases: on the current leader's own clock.
//!
//! **Leader changes.** Between the last tick of one leader and the first of
//! the next, nobody measured anything: the new leader's first tick counts
//! nothing, so the hand-over is not counted (leases run longer, never
//! shorter), and every lease and session gets at least
//! [`Config::leader_grace`](super::Config::leader_grace) from it — time for
//! a holder to find the new leader and renew (Chubby §2.8's grace period;
//! etcd renews every lease when a leader is promoted). A tick of a deposed
//! leader applied after its successor's counts nothing.
//!
//! **The clock assumption.** A leader's clock may run fast or slow by a
//! bounded rate (quartz: tens of parts per million; the simulator uses up
//! to ±1%). Log time then runs at most that much faster than real time, so
//! a lease of TTL `t` ends no earlier than `t / (1 + ρ)` after its holder
//! was told of it — the assumption leases rest on since Gray and Cheriton
//! (SOSP 1989). Clients take `ρ` off their own view of a lease
//! ([`crate::lease::LeaseTracker`]'s drift), and anything a lease protects
//! should also check a fencing token ([`crate::lease::FenceGuard`]): the
//! lesson of the Jepsen etcd 3.4.3 analysis, where leases could end before
//! their holders knew.
//!
//! A timer (re)started by an entry does not count from the log time of the
//! last tick before it: that tick was proposed *earlier* than the entry, so
//! counting from it could end a lease before `ttl` has passed since the
//! client asked. It counts from the first tick applied *after* the entry,
//! which its leader proposed later (a higher index is proposed later: the
//! leader of the higher entry held the lower one in its log first).
//!
//! Logs written before durations carry [`Op::Tick`](super::Op::Tick) with
//! the leader's clock reading; those still apply (log time becomes the
//! largest reading), so old logs replay as they did.

use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// Where a timer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// (Re)started by an entry; its clock starts at the next tick.
    Pending(Duration),
    /// Fires once log time reaches this.
    Armed(Instant),
}

/// Timers keyed by `K`, fired by [`Timers::advance`] in deadline order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Timers<K: Ord + Copy> {
    pending: BTreeMap<K, Duration>,
    armed: BTreeMap<K, Instant>,
    queue: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers { pending: BTreeMap::new(), armed: BTreeMap::new(), queue: BTreeSet::new() }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// (Re)starts `k`'s timer: it fires `ttl` after the next tick.
    pub(crate) fn restart(&mut self, k: K, ttl: Duration) {
        self.cancel(k);
        self.pending.insert(k, ttl);
    }

    /// Forgets `k`'s timer.
    pub(crate) fn cancel(&mut self, k: K) {
        if let Some(d) = self.armed.remove(&k) {
            self.queue.remove(&(d, k));
        }
        self.pending.remove(&k);
    }

    /// `k`'s timer, if it has one.
    pub(crate) fn get(&self, k: K) -> Option<Timer> {
        match self.armed.get(&k) {
            Some(&d) => Some(Timer::Armed(d)),
            None => self.pending.get(&k).map(|&ttl| Timer::Pending(ttl)),
        }
    }

    /// Puts back a timer read by [`Timers::get`] (snapshot restore).
    pub(crate) fn set(&mut self, k: K, timer: Timer) {
        self.cancel(k);
        match timer {
            Timer::Pending(ttl) => {
                self.pending.insert(k, ttl);
            }
            Timer::Armed(d) => {
                self.armed.insert(k, d);
                self.queue.insert((d, k));
            }
        }
    }

    /// Moves every armed deadline earlier than `floor` to `floor`.
    pub(crate) fn extend_to(&mut self, floor: Instant) {
        let early: Vec<(Instant, K)> = self.queue.iter().take_while(|(d, _)| *d < floor).copied().collect();
        for (d, k) in early {
            self.queue.remove(&(d, k));
            self.queue.insert((floor, k));
            self.armed.insert(k, floor);
        }
    }

    /// A tick moved log time to `now`: starts the pending clocks at `now`,
    /// then fires every timer whose deadline is `now` or earlier, in
    /// deadline order, into `fired`.
    pub(crate) fn advance(&mut self, now: Instant, fired: &mut Vec<K>) {
        for (k, ttl) in core::mem::take(&mut self.pending) {
            let d = now + ttl;
            self.armed.insert(k, d);
            self.queue.insert((d, k));
        }
        while let Some(&(d, k)) = self.queue.first() {
            if d > now {
                break;
            }
            self.queue.pop_first();
            self.armed.remove(&k);
            fired.push(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn a_restarted_timer_counts_from_the_next_tick_and_fires_at_its_deadline() {
        let mut t = Timers::default();
        let mut fired = Vec::new();
        t.restart(1u64, Duration::from_millis(10));
        assert_eq!(t.get(1), Some(Timer::Pending(Duration::from_millis(10))));
        t.advance(ms(100), &mut fired);
        assert_eq!(t.get(1), Some(Timer::Armed(ms(110))));
        t.advance(ms(109), &mut fired);
        assert!(fired.is_empty());
        t.restart(2, Duration::from_millis(1));
        t.advance(ms(110), &mut fired);
        assert_eq!(fired, vec![1]);
        assert_eq!(t.get(1), None);
        t.advance(ms(111), &mut fired);
        assert_eq!(fired, vec![1, 2]);
    }

    #[test]
    fn cancel_and_set_replace_a_timer() {
        let mut t = Timers::default();
        let mut fired = Vec::new();
        t.set(7u64, Timer::Armed(ms(5)));
        t.set(7, Timer::Armed(ms(50)));
        t.advance(ms(10), &mut fired);
        assert!(fired.is_empty());
        t.cancel(7);
        t.advance(ms(60), &mut fired);
        assert!(fired.is_empty());
        assert_eq!(t, Timers::default());
    }
}
