//! Lease and TTL time is wall-clock time across restarts and leader
//! changes, whatever the ages of the processes involved (issue 21).
//!
//! Before, log time was the largest clock reading a leader had proposed,
//! and a process's clock starts at zero: after a restart, or a failover to
//! a younger process, expiry froze until the new leader's uptime caught up
//! with the old one's. Both tests fail that way on the main before the
//! fix (point `SYNOD_BIN` at its build).

mod common;

use common::*;
use core::time::Duration;
use std::time::Instant;

/// The new leader's grace period (the store's default `leader_grace`).
const GRACE: Duration = Duration::from_secs(2);

/// Polls `GET key` on `port` until it is gone; the time that took.
fn time_until_gone(port: u16, key: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let v: Option<String> = retry(port, redis::cmd("GET").arg(key));
        if v.is_none() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_restarted_cluster_expires_a_px_key_on_time() {
    let scratch = Scratch::new("lease-restart");
    let port = free_ports(3);
    let mut cluster = common::cluster(&scratch.0, port, 3);
    let _: String = retry(port, redis::cmd("SET").arg("warm").arg("1"));
    // Log time runs 20 s ahead of any clock the restarted processes have.
    std::thread::sleep(Duration::from_secs(20));
    cluster.kill();
    let _cluster = common::cluster(&scratch.0, port, 3);
    let _: String = retry(port, redis::cmd("SET").arg("k").arg("v").arg("PX").arg(2000));
    let gone = time_until_gone(port, "k", Duration::from_secs(15)).expect("a 2 s key still there after 15 s");
    // It lived its 2 s (counted from the first tick after the write) and
    // not much more: a fresh leader's ticks, not the old processes' uptime.
    assert!(gone + Duration::from_millis(100) >= Duration::from_secs(2), "cut short: gone after {gone:?}");
    assert!(gone < Duration::from_secs(2) + GRACE + Duration::from_secs(2), "lived {gone:?}");
}

fn leader(resp: u16, among: &[u16]) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for &id in among {
            let info: String = retry(resp + id - 1, &redis::cmd("INFO"));
            if info_field(&info, "role").as_deref() == Some("master") {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "no leader among {among:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_lease_is_neither_frozen_nor_cut_short_by_a_failover_to_a_younger_process() {
    let scratch = Scratch::new("lease-failover");
    let (peer, resp) = (free_ports(3), free_ports(3));
    let mut procs: Vec<Option<Proc>> = (1..=3).map(|id| Some(cluster_node(&scratch.0, id, peer, resp, &[]))).collect();
    let _: String = retry(resp, redis::cmd("SET").arg("warm").arg("1"));
    std::thread::sleep(Duration::from_secs(15));
    // Restart both followers: every process but the leader is now 15 s
    // younger than log time.
    let old = leader(resp, &[1, 2, 3]);
    for id in (1..=3u16).filter(|i| *i != old) {
        procs[usize::from(id - 1)].take();
        procs[usize::from(id - 1)] = Some(cluster_node(&scratch.0, id, peer, resp, &[]));
        let _: String = retry(resp + id - 1, redis::cmd("SET").arg(format!("back{id}")).arg("1"));
    }
    assert_eq!(leader(resp, &[1, 2, 3]), old, "the old process still leads");
    let _: String = retry(resp + old - 1, redis::cmd("SET").arg("k").arg("v").arg("PX").arg(6000));
    let set = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    // The old leader dies; a young process takes over.
    procs[usize::from(old - 1)].take();
    let rest: Vec<u16> = (1..=3).filter(|i| *i != old).collect();
    let new = leader(resp, &rest);
    let gone = time_until_gone(resp + new - 1, "k", Duration::from_secs(30)).map(|_| set.elapsed());
    let gone = gone.expect("the key outlived 30 s: lease time froze after the failover");
    assert!(gone >= Duration::from_millis(5900), "cut short: gone {gone:?} after a 6 s PX");
    // 6 s, plus the hand-over (not counted) and the grace period, plus
    // polling slack.
    assert!(gone < Duration::from_secs(6) + GRACE + Duration::from_secs(4), "lived {gone:?}");
}
