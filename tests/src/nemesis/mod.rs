//! The fault-injection harness against real processes: a cluster of
//! `synod node` processes on loopback behind proxies the harness owns,
//! concurrent RESP clients recording a history, and a seeded schedule of
//! `kill -9` and restart of one node or of every node at once,
//! `SIGSTOP`/`SIGCONT` of the leader, network partitions, and leadership
//! transfers; then healing, and the checks: every acknowledged write is
//! present, the history is linearizable, fencing tokens increase, writes
//! through `synod-client` apply exactly once, its lock holders never
//! overlap, and the cluster answers again in bounded time.

pub mod clients;
pub mod cluster;
pub mod exactly_once;
pub mod lock_holders;
pub mod membership;
pub mod proxy;

use crate::history::{Op, Outcome};
use crate::linearizability::{self, Verdict};
use cluster::{Cluster, Setup};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use synod_core::rand::Rng;

static STOP: std::sync::LazyLock<Arc<core::sync::atomic::AtomicBool>> = std::sync::LazyLock::new(Arc::default);

/// Set (e.g. on Ctrl-C) to end the campaign early; every process is still
/// killed on the way out.
pub fn stop_flag() -> Arc<core::sync::atomic::AtomicBool> {
    STOP.clone()
}

/// A campaign's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// The cluster.
    pub setup: Setup,
    /// Seed of the fault schedule and the workload.
    pub seed: u64,
    /// How long faults are injected.
    pub duration: Duration,
    /// KV clients.
    pub clients: u64,
    /// Key space.
    pub keys: u64,
    /// The canary: the exactly-once workload retries plainly, without a
    /// session, and must be caught applying a write twice.
    pub plain_retries: bool,
    /// Grow, shrink and replace members under the faults
    /// ([`membership`]); needs `setup.spares`.
    pub membership: bool,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// KV operations recorded.
    pub ops: usize,
    /// Of which answered.
    pub ok: usize,
    /// Of which unknown (timed out, connection lost).
    pub unknown: usize,
    /// Transactions (`MULTI`/`EXEC`) answered.
    pub transactions: usize,
    /// Operations answered on hash fields ([`clients::HASH_FIELDS_FROM`]).
    pub field_ops: usize,
    /// Watched writes answered: stored, and aborted by `WATCH`.
    pub watched: (usize, usize),
    /// kill -9 and restarts of one node.
    pub kills: u64,
    /// kill -9 of every node at once, then a restart of all: only what
    /// each node wrote before the signal survives, so an acknowledgement
    /// that ran ahead of its write shows up as a lost write.
    pub cluster_crashes: u64,
    /// SIGSTOP/SIGCONT pauses.
    pub pauses: u64,
    /// Partitions.
    pub partitions: u64,
    /// Leadership transfers asked for.
    pub transfers: u64,
    /// Exactly-once writes (`synod-client`) reported done.
    pub eo_done: u64,
    /// Exactly-once writes reported failed (maybe applied).
    pub eo_failed: u64,
    /// Of those, applied nonetheless (once).
    pub eo_failed_applied: u64,
    /// Acknowledged ledger writes checked after healing.
    pub acked_checked: usize,
    /// Lock grants checked for increasing fencing tokens.
    pub grants: usize,
    /// Lock holdings through `synod-client` checked for overlap.
    pub holdings: usize,
    /// Of those, cut short because the lease stopped being safe.
    pub holdings_cut_short: u64,
    /// Membership steps taken.
    pub membership: membership::Tally,
    /// Time from healing to the first acknowledged write.
    pub recovery: Duration,
    /// Broken properties.
    pub violations: Vec<String>,
}

impl Report {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Report) {
        self.ops += o.ops;
        self.ok += o.ok;
        self.unknown += o.unknown;
        self.transactions += o.transactions;
        self.field_ops += o.field_ops;
        self.watched.0 += o.watched.0;
        self.watched.1 += o.watched.1;
        self.kills += o.kills;
        self.cluster_crashes += o.cluster_crashes;
        self.pauses += o.pauses;
        self.partitions += o.partitions;
        self.transfers += o.transfers;
        self.eo_done += o.eo_done;
        self.eo_failed += o.eo_failed;
        self.eo_failed_applied += o.eo_failed_applied;
        self.acked_checked += o.acked_checked;
        self.grants += o.grants;
        self.holdings += o.holdings;
        self.holdings_cut_short += o.holdings_cut_short;
        self.membership.add(&o.membership);
        self.violations.extend(o.violations.iter().cloned());
    }
}

/// The live node that says it leads, if one does.
pub fn leader(c: &Cluster) -> Option<u64> {
    for i in c.live() {
        if let Ok(v) = synod::status::fetch_with_timeout(&c.resp(i).to_string(), Duration::from_millis(500))
            && v.get("role").and_then(|r| r.as_str()) == Some("Leader")
        {
            return Some(i);
        }
    }
    None
}

/// Waits (bounded) until some node acknowledges a write.
fn wait_for_write(c: &Cluster, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < bound {
        for i in c.members() {
            if let Ok(client) = redis::Client::open(format!("redis://{}/", c.resp(i)))
                && let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(300))
            {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                if redis::cmd("SET").arg("nemesis:probe").arg(1).query::<()>(&mut conn).is_ok() {
                    return Some(start.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Reads `key` from any node, retrying for a few seconds.
pub fn read_back(c: &Cluster, key: &str) -> Result<Option<i64>, String> {
    read_back_as(c, key)
}

/// Reads `key` as a `T` from any node, retrying for a few seconds.
pub fn read_back_as<T: redis::FromRedisValue>(c: &Cluster, key: &str) -> Result<Option<T>, String> {
    read_back_with(c, redis::cmd("GET").arg(key).clone())
}

/// Runs the read `cmd` on any node, retrying for a few seconds.
pub fn read_back_with<T: redis::FromRedisValue>(c: &Cluster, cmd: redis::Cmd) -> Result<Option<T>, String> {
    let mut last = String::new();
    let members = c.members();
    for attempt in 0..60 {
        let i = members[attempt % members.len().max(1)];
        match redis::Client::open(format!("redis://{}/", c.resp(i)))
            .and_then(|cl| cl.get_connection_with_timeout(Duration::from_millis(300)))
        {
            Ok(mut conn) => {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                match cmd.query::<Option<T>>(&mut conn) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

/// Runs one campaign.
pub fn run(cfg: &Config) -> Result<Report, String> {
    let mut cluster = Cluster::new(cfg.setup.clone())?;
    for i in 1..=cluster.len() {
        cluster.start(i)?;
    }
    let mut report = Report::default();
    if wait_for_write(&cluster, Duration::from_secs(30)).is_none() {
        return Err("the cluster never accepted a first write".into());
    }
    let start = Instant::now();
    let shared = Arc::new(clients::Shared {
        start,
        // Spares too: one not started yet refuses the connection, and the
        // clients move on.
        nodes: cluster.ids().into_iter().map(|i| cluster.resp(i)).collect(),
        history: Mutex::default(),
        ledger: Mutex::default(),
        grants: Mutex::default(),
        until: start + cfg.duration,
    });
    let mut threads = Vec::new();
    for c in 0..cfg.clients {
        let s = shared.clone();
        let (seed, keys) = (cfg.seed.wrapping_mul(1000) + c, cfg.keys);
        threads.push(std::thread::spawn(move || clients::kv_client(s, c, seed, keys, 1_000_000)));
    }
    let s = shared.clone();
    let seed = cfg.seed ^ 0x5eed;
    threads.push(std::thread::spawn(move || clients::ledger_client(s, seed, 1_000_000)));
    for l in 0..2u64 {
        let s = shared.clone();
        let seed = cfg.seed ^ (0x10c4 + l);
        threads.push(std::thread::spawn(move || clients::lock_client(s, seed, "nemesis-lock", 1_000_000)));
    }
    let tally = Arc::new(Mutex::new(exactly_once::Tally::default()));
    let (s, t, seed, plain) = (shared.clone(), tally.clone(), cfg.seed ^ 0xe0, cfg.plain_retries);
    threads.push(std::thread::spawn(move || exactly_once::run(s, seed, t, plain)));
    let resource = Arc::new(lock_holders::Resource::default());
    let holds = Arc::new(Mutex::new(lock_holders::Tally::default()));
    for h in 1..=2u64 {
        let (s, r, t, seed) = (shared.clone(), resource.clone(), holds.clone(), cfg.seed ^ (0x401d + h));
        threads.push(std::thread::spawn(move || lock_holders::run(s, h, seed, r, t)));
    }
    // The fault schedule.
    let mut rng = Rng::with_seed(cfg.seed);
    let mut down: Vec<(u64, Instant)> = Vec::new();
    let mut paused: Vec<(u64, Instant)> = Vec::new();
    let mut healed_at: Option<Instant> = None;
    let mut steps = cfg.membership.then(|| membership::Steps::new(cluster.len()));
    while start.elapsed() < cfg.duration && !STOP.load(core::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(rng.range(500, 2500)));
        let now = Instant::now();
        for (i, _) in down.iter().filter(|(_, t)| *t <= now) {
            cluster.start(*i)?;
        }
        down.retain(|(_, t)| *t > now);
        for (i, _) in paused.iter().filter(|(_, t)| *t <= now) {
            cluster.pause(*i, false);
        }
        paused.retain(|(_, t)| *t > now);
        if healed_at.is_some_and(|t| t <= now) {
            cluster.heal()?;
            healed_at = None;
        }
        for (i, status) in cluster.reap() {
            report.violations.push(format!("node {i} exited by itself ({status}); see node-{i}.log"));
        }
        // A membership step moves on by one call each turn, between and
        // during the other faults.
        if let Some(s) = steps.as_mut() {
            if rng.chance(0.6) {
                s.plan(&cluster, &mut rng);
            }
            s.advance(&mut cluster)?;
        }
        let members = cluster.members();
        let n = members.len() as u64;
        let any = |rng: &mut Rng| members[rng.below(n) as usize];
        let impaired = down.len() + paused.len();
        match rng.below(5) {
            // Rarer than the rest: a whole-cluster crash is a full outage.
            4 if rng.chance(0.5) => {
                for i in &members {
                    cluster.kill(*i);
                }
                for (i, _) in paused.drain(..) {
                    cluster.pause(i, false);
                }
                down = members.iter().map(|i| (*i, now + Duration::from_millis(rng.range(300, 1500)))).collect();
                report.cluster_crashes += 1;
            }
            0 if impaired < ((n - 1) / 2) as usize => {
                let victim = if rng.chance(0.5) { leader(&cluster) } else { None }.unwrap_or_else(|| any(&mut rng));
                cluster.kill(victim);
                down.push((victim, now + Duration::from_millis(rng.range(500, 3000))));
                report.kills += 1;
            }
            1 if impaired < ((n - 1) / 2) as usize => {
                if let Some(l) = leader(&cluster) {
                    cluster.pause(l, true);
                    paused.push((l, now + Duration::from_millis(rng.range(500, 3000))));
                    report.pauses += 1;
                }
            }
            2 if healed_at.is_none() => {
                let victim = if rng.chance(0.5) { leader(&cluster) } else { None }.unwrap_or_else(|| any(&mut rng));
                if cfg.membership {
                    // One proxy in front of each node: the victim hears
                    // nothing, and is still heard.
                    cluster.deafen(victim, true);
                } else if rng.chance(0.5) {
                    cluster.isolate(victim);
                } else {
                    // One way only: the victim still hears, but is not heard.
                    for j in 1..=n {
                        if j != victim {
                            cluster.cut(victim, j, true);
                        }
                    }
                }
                healed_at = Some(now + Duration::from_millis(rng.range(1000, 4000)));
                report.partitions += 1;
            }
            3 => {
                // Leadership moves with no fault at all (thesis §3.10):
                // writes in flight at the old leader must still apply once.
                let live: Vec<u64> =
                    cluster.live().into_iter().filter(|i| !paused.iter().any(|(p, _)| p == i)).collect();
                if let (Some(l), false) = (leader(&cluster), live.is_empty()) {
                    let to = live[rng.below(live.len() as u64) as usize];
                    if to != l && transfer(&cluster, l, to) {
                        report.transfers += 1;
                    }
                }
            }
            _ => {}
        }
    }
    // Heal everything and wait for the clients to finish.
    cluster.heal()?;
    for t in threads {
        let _ = t.join();
    }
    if let Some(s) = steps.as_mut() {
        if let Err(e) = s.finish(&mut cluster, Duration::from_secs(60)) {
            report.violations.push(e);
        }
        report.membership = s.tally.clone();
    }
    match wait_for_write(&cluster, Duration::from_secs(30)) {
        Some(d) => report.recovery = d,
        None => {
            // Reading every key back from a cluster that does not answer
            // would take hours; what happened is already a failure.
            report.violations.push("the cluster did not answer within 30 s of healing".into());
            for (i, status) in cluster.reap() {
                report.violations.push(format!("node {i} exited by itself ({status}); see node-{i}.log"));
            }
            return Ok(report);
        }
    }
    // Every acknowledged ledger write is present.
    let acked = shared.ledger.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report.acked_checked = acked.len();
    for n in &acked {
        match read_back(&cluster, &format!("ledger:{n}")) {
            Ok(Some(v)) if v == *n as i64 => {}
            Ok(other) => report.violations.push(format!("acknowledged write ledger:{n} reads back as {other:?}")),
            Err(e) => report.violations.push(format!("cannot read ledger:{n} after healing: {e}")),
        }
    }
    // Writes through synod-client: each applied once.
    let tally = tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let logs: Result<Vec<Option<String>>, String> = (0..=exactly_once::blocks(&tally))
        .map(|b| read_back_as::<String>(&cluster, &exactly_once::log_key(b * exactly_once::BLOCK)))
        .collect();
    let counter = read_back(&cluster, exactly_once::COUNTER_KEY);
    match (logs, counter) {
        (Ok(logs), Ok(counter)) => {
            let f = exactly_once::check(&tally, &logs, counter);
            report.eo_done = f.done;
            report.eo_failed = f.failed;
            report.eo_failed_applied = f.failed_applied;
            report.violations.extend(f.violations.into_iter().map(|v| format!("exactly once: {v}")));
        }
        (Err(e), _) | (_, Err(e)) => report.violations.push(format!("cannot read the exactly-once keys: {e}")),
    }
    // Locks through synod-client: one holder at a time, rising tokens.
    let holds = holds.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report.holdings = holds.holdings.len();
    report.holdings_cut_short = holds.cut_short;
    report.violations.extend(lock_holders::check(&holds.holdings).into_iter().map(|v| format!("locks: {v}")));
    // Final reads join the history, so lost writes show as violations too.
    let history = {
        let mut h = shared.history.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fields = (0..cfg.keys).map(|k| k + clients::HASH_FIELDS_FROM);
        for k in (0..cfg.keys).chain(fields) {
            let at = start.elapsed().as_nanos() as u64;
            let id = h.invoke(u64::MAX, Op::Get(k), at);
            if let Ok(v) = read_back_with(&cluster, clients::read_command(k)) {
                let done = start.elapsed().as_nanos() as u64;
                h.complete(id, done, Outcome::Ok(crate::history::Ret::Value(v)));
            }
        }
        h
    };
    report.ops = history.len();
    report.ok = history.ops.iter().filter(|o| matches!(o.outcome, Outcome::Ok(_))).count();
    report.unknown = history.ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();
    let answered = |f: fn(&crate::history::Op, &crate::history::Ret) -> bool| {
        history.ops.iter().filter(|o| matches!(&o.outcome, Outcome::Ok(r) if f(&o.op, r))).count()
    };
    report.transactions = answered(|op, _| matches!(op, crate::history::Op::Tx(..)));
    report.field_ops = answered(|op, _| op.key() >= clients::HASH_FIELDS_FROM);
    report.watched = (
        answered(|op, r| matches!((op, r), (crate::history::Op::Watched(..), crate::history::Ret::Bool(true)))),
        answered(|op, r| matches!((op, r), (crate::history::Op::Watched(..), crate::history::Ret::Bool(false)))),
    );
    match linearizability::check(&history) {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => report.violations.push(format!("history not linearizable:\n{v}")),
        Verdict::Unknown { key } => report.violations.push(format!("linearizability undecided on key {key} (budget)")),
    }
    // Fencing tokens: one token names one grant (a holder asking again gets
    // its own back), and a grant asked for after another was answered has
    // a larger token.
    let grants = shared.grants.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report.grants = grants.len();
    for a in &grants {
        for b in &grants {
            if a.lock != b.lock {
                continue;
            }
            if a.token == b.token && a.lease != b.lease {
                report.violations.push(format!("token {} granted to leases {} and {}", a.token, a.lease, b.lease));
            } else if a.token != b.token && a.completed < b.invoked && b.token < a.token {
                report
                    .violations
                    .push(format!("token {} granted after the grant of token {} was answered", b.token, a.token));
            }
        }
    }
    Ok(report)
}

/// Asks node `via` to hand leadership to node `to`; true if it started.
fn transfer(c: &Cluster, via: u64, to: u64) -> bool {
    let Some(mut conn) = clients::connect_with(c.resp(via), Duration::from_secs(2)) else { return false };
    redis::cmd("SYNOD.LEADER").arg("TRANSFER").arg(to).query::<()>(&mut conn).is_ok()
}
