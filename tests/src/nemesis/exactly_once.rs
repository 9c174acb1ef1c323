//! The exactly-once workload: one `synod-client` through the proxies,
//! under every fault the schedule injects. Each step appends a numbered
//! token to one key (`APPEND nemesis:eo:<block> "<n>,"`) — so every write is
//! identifiable in the final value — and increments one counter. Checked
//! after healing: no token twice, every acknowledged token present once
//! and where its reply said the value ended, tokens in order; the counter
//! equals the increments reported done plus some of those reported
//! failed.

use super::clients::Shared;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use synod_client::{Client, Config};
use synod_tokio::{TcpConnector, TokioRuntime};

/// Tokens per log key: a key holds at most about 140 KiB, far below the
/// value limit, however long the campaign.
pub const BLOCK: u64 = 20_000;

/// The key token `n` goes to.
pub fn log_key(n: u64) -> String {
    format!("nemesis:eo:{}", n / BLOCK)
}
/// The counter's key.
pub const COUNTER_KEY: &str = "nemesis:counter";

/// What the client was told.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Appends acknowledged: token and the length the reply gave.
    pub appended: Vec<(u64, u64)>,
    /// Appends reported failed (maybe applied).
    pub append_failed: Vec<u64>,
    /// Increments acknowledged.
    pub incr_done: u64,
    /// Increments reported failed (maybe applied).
    pub incr_failed: u64,
}

/// What the check found.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// Writes the client reported done (appends and increments).
    pub done: u64,
    /// Writes it reported failed.
    pub failed: u64,
    /// Of the failed, those the store applied nonetheless.
    pub failed_applied: u64,
    /// Broken properties.
    pub violations: Vec<String>,
}

/// Runs the workload until `shared.until`: through `synod-client`, or with
/// `plain` (the canary) as a plain Redis client does it, retrying a write
/// that got no answer without a session.
pub fn run(shared: Arc<Shared>, seed: u64, tally: Arc<Mutex<Tally>>, plain: bool) {
    if plain {
        return run_plain(&shared, seed, &tally);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return eprintln!("no runtime for the exactly-once client: {e}"),
    };
    rt.block_on(async {
        let cfg = Config::new(shared.nodes.iter().map(ToString::to_string))
            .with_seed(seed)
            .with_retry_budget(core::time::Duration::from_secs(10));
        let client = match Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector)) {
            Ok(c) => c,
            Err(e) => return eprintln!("exactly-once client: {e}"),
        };
        let mut n = 0u64;
        while Instant::now() < shared.until {
            n += 1;
            let appended = client.append(log_key(n), format!("{n},")).await;
            let incremented = client.incr(COUNTER_KEY).await;
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            match appended {
                Ok(len) => t.appended.push((n, len)),
                Err(_) => t.append_failed.push(n),
            }
            match incremented {
                Ok(_) => t.incr_done += 1,
                Err(_) => t.incr_failed += 1,
            }
        }
    });
}

/// The canary's client: a plain retry after an error or a lost
/// connection, as a user of any Redis client library would write it.
fn run_plain(shared: &Shared, seed: u64, tally: &Mutex<Tally>) {
    let mut rng = synod_core::rand::Rng::with_seed(seed);
    let mut conn = None;
    let mut n = 0u64;
    while Instant::now() < shared.until {
        n += 1;
        let mut retried = |cmd: &redis::Cmd| -> Option<i64> {
            let give_up = Instant::now() + core::time::Duration::from_secs(10);
            while Instant::now() < give_up {
                if conn.is_none() {
                    let node = shared.nodes[rng.below(shared.nodes.len() as u64) as usize];
                    conn = super::clients::connect_with(node, core::time::Duration::from_secs(2));
                }
                if let Some(c) = conn.as_mut() {
                    match cmd.query::<i64>(c) {
                        Ok(v) => return Some(v),
                        Err(_) => conn = None,
                    }
                }
                std::thread::sleep(core::time::Duration::from_millis(20));
            }
            None
        };
        let appended = retried(redis::cmd("APPEND").arg(log_key(n)).arg(format!("{n},")));
        let incremented = retried(&redis::cmd("INCR").arg(COUNTER_KEY).clone());
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        match appended {
            Some(len) => t.appended.push((n, len as u64)),
            None => t.append_failed.push(n),
        }
        match incremented {
            Some(_) => t.incr_done += 1,
            None => t.incr_failed += 1,
        }
    }
}

/// The highest block a token was issued in.
pub fn blocks(t: &Tally) -> u64 {
    let last = t.appended.iter().map(|(n, _)| *n).chain(t.append_failed.iter().copied()).max().unwrap_or(0);
    last / BLOCK
}

/// Checks the final token logs (block by block, from 0) and counter
/// against what the client was told.
pub fn check(t: &Tally, logs: &[Option<String>], counter: Option<i64>) -> Findings {
    let mut f = Findings {
        done: t.appended.len() as u64 + t.incr_done,
        failed: t.append_failed.len() as u64 + t.incr_failed,
        ..Findings::default()
    };
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut order = Vec::new();
    let all: String = logs.iter().map(|l| l.as_deref().unwrap_or("")).collect();
    for token in all.split(',').filter(|s| !s.is_empty()) {
        match token.parse::<u64>() {
            Ok(n) => {
                *seen.entry(n).or_default() += 1;
                order.push(n);
            }
            Err(_) => f.violations.push(format!("the token log holds {token:?}, which no client wrote")),
        }
    }
    for (n, times) in &seen {
        if *times > 1 {
            f.violations.push(format!("append {n} applied {times} times"));
        }
    }
    if order.windows(2).any(|w| w[0] >= w[1]) {
        f.violations.push("the token log is out of order".into());
    }
    for (n, len) in &t.appended {
        let log = logs.get((n / BLOCK) as usize).and_then(|l| l.as_deref()).unwrap_or("");
        let ends_there =
            log.get(..*len as usize).is_some_and(|p| p.ends_with(&format!(",{n},")) || p == format!("{n},"));
        if !seen.contains_key(n) {
            f.violations.push(format!("acknowledged append {n} is missing"));
        } else if !ends_there {
            f.violations.push(format!("append {n} was answered length {len}, but its token does not end there"));
        }
    }
    let issued: std::collections::BTreeSet<u64> =
        t.appended.iter().map(|(n, _)| *n).chain(t.append_failed.iter().copied()).collect();
    for n in seen.keys().filter(|n| !issued.contains(n)) {
        f.violations.push(format!("append {n} was never issued"));
    }
    let appends_applied = t.append_failed.iter().filter(|n| seen.contains_key(n)).count() as u64;
    let counter = counter.unwrap_or(0).max(0) as u64;
    match counter.checked_sub(t.incr_done) {
        Some(extra) if extra <= t.incr_failed => f.failed_applied = appends_applied + extra,
        _ => f.violations.push(format!(
            "the counter is {counter}: {} increments were acknowledged and {} reported failed",
            t.incr_done, t.incr_failed
        )),
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(s: &str) -> Vec<Option<String>> {
        vec![Some(s.to_string())]
    }

    #[test]
    fn tokens_spread_over_blocks_are_checked_in_their_own_block() {
        let n = BLOCK + 1;
        let t = Tally { appended: vec![(BLOCK - 1, 6), (n, 6)], append_failed: vec![], incr_done: 0, incr_failed: 0 };
        let logs = [Some(format!("{},", BLOCK - 1)), Some(format!("{n},"))];
        let f = check(&t, &logs, Some(0));
        assert!(f.violations.is_empty(), "{:?}", f.violations);
        assert_eq!(log_key(n), "nemesis:eo:1");
        assert_eq!(blocks(&t), 1);
    }

    fn tally() -> Tally {
        Tally { appended: vec![(1, 2), (2, 4), (4, 6)], append_failed: vec![3], incr_done: 3, incr_failed: 1 }
    }

    #[test]
    fn a_clean_run_passes_and_counts_what_failed_but_applied() {
        let f = check(&tally(), &log("1,2,4,"), Some(4));
        assert!(f.violations.is_empty(), "{:?}", f.violations);
        assert_eq!((f.done, f.failed, f.failed_applied), (6, 2, 1));
    }

    #[test]
    fn a_write_applied_twice_lost_or_answered_wrong_is_caught() {
        let twice = check(&tally(), &log("1,2,2,4,"), Some(4));
        assert!(twice.violations.iter().any(|v| v == "append 2 applied 2 times"), "{:?}", twice.violations);
        let lost = check(&tally(), &log("1,4,"), Some(3));
        assert!(lost.violations.iter().any(|v| v == "acknowledged append 2 is missing"), "{:?}", lost.violations);
        let counter = check(&tally(), &log("1,2,4,"), Some(5));
        assert!(counter.violations.iter().any(|v| v.starts_with("the counter is 5")), "{:?}", counter.violations);
        let shifted = check(&tally(), &log("1,2,3,4,"), Some(3));
        assert!(
            shifted.violations.iter().any(|v| v.starts_with("append 4 was answered length 6")),
            "{:?}",
            shifted.violations
        );
        let forged = check(&tally(), &log("1,2,4,9,"), Some(3));
        assert!(forged.violations.iter().any(|v| v == "append 9 was never issued"), "{:?}", forged.violations);
    }
}
