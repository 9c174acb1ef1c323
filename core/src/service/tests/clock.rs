//! Time carried as durations measured by each leader on its own clock
//! ([`Op::Clock`]): log time that means wall-clock time across restarts and
//! leader changes, whatever the processes' ages.

use super::*;
use crate::service::RestoreError;

impl Harness {
    /// A tick of the leader of `term`, `elapsed_ms` after its previous one.
    fn clock(&mut self, term: u64, elapsed_ms: u64) {
        assert_eq!(self.apply_bytes(&Store::clock_tick(term, ms(elapsed_ms))), Reply::Ok);
    }

    /// Ticks of one leader every 100 ms for `total_ms`.
    fn run(&mut self, term: u64, total_ms: u64) {
        for _ in 0..total_ms / 100 {
            self.clock(term, 100);
        }
    }
}

fn no_grace() -> Config {
    Config { leader_grace: Duration::ZERO, ..Config::default() }
}

#[test]
fn one_leaders_elapsed_times_add_up_to_log_time() {
    let mut h = Harness::with(no_grace());
    h.clock(1, 0);
    let l = h.grant(2_000);
    h.run(1, 2_000);
    assert!(h.live(l), "2 s counted from the first tick after the grant");
    h.clock(1, 100);
    assert!(!h.live(l));
}

/// The issue-21 case: a cluster ran 420 s, restarted, got `PX 2000`. Under
/// the old time base the new leader's uptime (0 s) was behind log time
/// (420 s) and the key lived 410 s more; with durations the new leader
/// picks up where log time stands.
#[test]
fn a_young_leader_after_an_old_one_neither_freezes_nor_rushes_expiry() {
    let grace = Config::default().leader_grace;
    let mut h = Harness::new();
    h.clock(1, 0);
    h.run(1, 420_000);
    // Restart: a new leader, its process's clock at zero.
    h.clock(2, 0);
    let l = h.grant(2_000);
    h.run(2, 2_000);
    assert!(h.live(l), "not cut short");
    h.run(2, duration_ms(grace));
    h.clock(2, 100);
    assert!(!h.live(l), "gone within 2 s plus the grace period, not 410 s");
}

#[test]
fn a_new_leader_gives_every_lease_the_grace_period_and_cuts_none_short() {
    let grace = duration_ms(Config::default().leader_grace);
    let mut h = Harness::new();
    h.clock(1, 0);
    let short = h.grant(500);
    let long = h.grant(10_000);
    h.clock(1, 0); // their clocks start here
    h.run(1, 400);
    // Leader 1 dies 100 ms before `short` ends; leader 2 takes over.
    h.clock(2, 0);
    h.run(2, grace - 100);
    assert!(h.live(short), "the grace period holds it");
    h.clock(2, 100);
    assert!(!h.live(short), "and ends it");
    // A lease with more than the grace left keeps exactly its own time.
    h.run(2, 10_000 - 400 - grace - 100);
    assert!(h.live(long));
    h.clock(2, 100);
    assert!(!h.live(long));
}

#[test]
fn the_hand_over_between_leaders_is_not_counted_and_a_deposed_leaders_tick_counts_nothing() {
    let mut h = Harness::with(no_grace());
    h.clock(1, 0);
    let l = h.grant(1_000);
    h.clock(1, 0);
    h.run(1, 900);
    // The new leader's first tick carries nothing: it measured nothing.
    h.clock(2, 0);
    // A tick of the deposed leader, applied after its successor's: nothing.
    h.clock(1, 60_000);
    assert!(h.live(l));
    h.clock(2, 99);
    assert!(h.live(l));
    h.clock(2, 1);
    assert!(!h.live(l));
}

#[test]
fn the_clock_term_survives_a_snapshot_and_older_snapshots_restore() {
    let mut h = Harness::with(no_grace());
    h.clock(7, 0);
    let l = h.grant(1_000);
    h.clock(7, 0);
    h.run(7, 500);
    let snap = h.store.snapshot();
    let mut restored = Store::new(no_grace());
    restored.restore(&snap).unwrap();
    assert_eq!(restored, h.store);
    // The same leader's next tick still counts after the restore.
    let mut r = Harness { store: restored, index: h.index };
    r.run(7, 500);
    assert!(!r.live(l));

    // A version-2 snapshot (no clock term) restores; the next tick is a
    // new leader's, so it counts nothing.
    let mut v2 = super::snapshot::as_version_3(&h.store);
    v2[0] = 2;
    v2.remove(1 + 8 + 8); // the "has clock term" tag
    for _ in 0..8 {
        v2.remove(1 + 8 + 8); // the term
    }
    let mut old = Store::new(no_grace());
    old.restore(&Bytes::from(v2)).unwrap();
    let mut o = Harness { store: old, index: h.index };
    o.clock(7, 500);
    assert!(o.live(l), "the first tick after an old snapshot counts nothing");
    o.clock(7, 500);
    assert!(!o.live(l));
    let mut bad = snap.to_vec();
    bad[1 + 8 + 8] = 9;
    assert!(matches!(Store::new(no_grace()).restore(&Bytes::from(bad)), Err(RestoreError::Malformed(_))));
}

#[test]
fn clock_ticks_come_only_from_the_driver() {
    let cmd = Command::new(Op::Clock { term: 1, elapsed: Duration::from_secs(86_400) });
    assert!(cmd.is_tick());
    assert!(Config::default().admit(&cmd).is_err(), "a client's clock tick is refused before the log");
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap()
}
