//! How long clients of the surviving nodes stall when the leader fails
//! (issue 22): three real processes under write load on every node, faults
//! on the current leader alternating `kill -9` + restart and `SIGSTOP` +
//! `SIGCONT`, and per fault the time until every surviving node has
//! acknowledged a write sent to it after the fault. The same schedule runs
//! against synod ([`synod::Synod`]) and a 3-member etcd ([`etcd::Etcd`]);
//! afterwards every acknowledged write is read back and the history is
//! checked for linearizability.
//!
//! A campaign, in order: [`Target::start`] every member, start the writers
//! ([`writers::spawn`]), wait until every node serves, then per fault find
//! [`Target::leader`], signal it, restore it after a while, let the cluster
//! settle; stop the writers, read back, check, [`stall::measure`].

pub mod etcd;
pub mod http;
pub mod stall;
pub mod synod;
pub mod writers;

use crate::history::{History, Key, Op, Outcome, Ret, Value};
use crate::linearizability::{self, Verdict};
use core::sync::atomic::Ordering;
use core::time::Duration;
use stall::{Fault, FaultKind, FaultStall, Summary};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use writers::{Session, Shared};

/// A cluster the harness can fault: members are numbered from 1.
pub trait Target {
    /// What runs, for the report.
    fn name(&self) -> String;
    /// Number of members.
    fn members(&self) -> u64;
    /// The election timeout the members run with.
    fn election_timeout(&self) -> Duration;
    /// True if the system has an atomic increment the writers can use.
    fn increments(&self) -> bool;
    /// Starts (or restarts, on its data) member `i`.
    fn start(&mut self, i: u64) -> Result<(), String>;
    /// Kills member `i` with SIGKILL; returns once it is dead.
    fn kill(&mut self, i: u64);
    /// Sends SIGSTOP (`true`) or SIGCONT (`false`) to member `i`; a stop
    /// returns once every thread of it has stopped ([`wait_stopped`]).
    fn pause(&mut self, i: u64, paused: bool);
    /// The member that says it leads, if one does.
    fn leader(&self) -> Option<u64>;
    /// A client of member `node` waiting at most `timeout` per request.
    fn session(&self, node: u64, timeout: Duration) -> Box<dyn Session>;
    /// Reads `key` from any member (linearizably), retrying briefly.
    fn read(&self, key: Key) -> Result<Option<Value>, String>;
}

/// A campaign's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// Faults to inject; even ones are kills, odd ones pauses.
    pub faults: u32,
    /// Writers (connections) per node.
    pub writers_per_node: u64,
    /// How long a writer waits for an answer before counting the request
    /// as unknown and reconnecting.
    pub client_timeout: Duration,
    /// How long a killed leader stays down.
    pub down_for: Duration,
    /// How long a stopped leader stays stopped.
    pub paused_for: Duration,
    /// Quiet time after each restore, before the next fault.
    pub quiet: Duration,
}

/// What a campaign found.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per fault, the stall of every surviving node.
    pub stalls: Vec<FaultStall>,
    /// Median and maximum over faults.
    pub summary: Summary,
    /// Requests recorded.
    pub ops: usize,
    /// Of which acknowledged.
    pub ok: usize,
    /// Of which unknown (timed out, connection lost).
    pub unknown: usize,
    /// Acknowledged writes.
    pub acked_writes: usize,
    /// Keys read back after the run.
    pub keys_read: usize,
    /// Acknowledged writes found missing (a subset of `violations`).
    pub lost: usize,
    /// The linearizability checker's verdict on the whole history.
    pub verdict: Verdict,
    /// Broken properties: lost writes, a non-linearizable history.
    pub violations: Vec<String>,
    /// Wall time of the campaign.
    pub elapsed: Duration,
}

/// Waits (at most a second) until every thread of process `pid` is
/// stopped: a fault's clock starts when it has taken effect, or a write
/// sent in the meantime and acknowledged by the not-yet-stopped leader
/// would count as served after the fault.
pub fn wait_stopped(pid: u32) -> bool {
    let all_stopped = || -> Option<bool> {
        let mut any = false;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            // The state follows the parenthesised command name.
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            if !matches!(state, 'T' | 't') {
                return Some(false);
            }
            any = true;
        }
        Some(any)
    };
    let begun = Instant::now();
    while begun.elapsed() < Duration::from_secs(1) {
        if all_stopped() == Some(true) {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// Load before the first fault, once every node serves.
const WARM_UP: Duration = Duration::from_secs(2);

/// Nodes that acknowledged some write sent to them at or after `since`.
fn serving(shared: &Shared, since: u64, node_of: &impl Fn(u64) -> Option<u64>) -> BTreeSet<u64> {
    let h = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    h.ops
        .iter()
        .rev()
        .take_while(|o| o.invoke >= since)
        .filter(|o| !o.op.is_read() && matches!(o.outcome, Outcome::Ok(_)))
        .filter_map(|o| node_of(o.client))
        .collect()
}

/// Waits (at most `bound`) until every node acknowledged a write sent in
/// the last second.
fn wait_serving(shared: &Shared, nodes: u64, node_of: &impl Fn(u64) -> Option<u64>, bound: Duration) -> bool {
    let begun = Instant::now();
    while begun.elapsed() < bound {
        let since = shared.now().saturating_sub(1_000_000_000);
        if serving(shared, since, node_of).len() as u64 == nodes {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn wait_leader(target: &dyn Target, bound: Duration) -> Option<u64> {
    let begun = Instant::now();
    while begun.elapsed() < bound {
        if let Some(l) = target.leader() {
            return Some(l);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Runs one campaign against `target`, telling `progress` about each fault
/// as it happens.
pub fn run(target: &mut dyn Target, cfg: &Config, progress: &mut dyn FnMut(&str)) -> Result<Report, String> {
    let begun = Instant::now();
    let n = target.members();
    for i in 1..=n {
        target.start(i)?;
    }
    let per_node = cfg.writers_per_node;
    let node_of = move |client: u64| (client < n * per_node).then(|| 1 + client / per_node);
    let shared = Arc::new(Shared::new());
    let threads =
        writers::spawn(&shared, n, per_node, target.increments(), |node| target.session(node, cfg.client_timeout));
    let mut violations = Vec::new();
    let mut faults: Vec<Fault> = Vec::new();
    let result = (|| {
        if !wait_serving(&shared, n, &node_of, Duration::from_secs(30)) {
            return Err("the cluster did not serve writes on every node within 30 s".to_string());
        }
        std::thread::sleep(WARM_UP);
        for f in 0..cfg.faults {
            if !wait_serving(&shared, n, &node_of, Duration::from_secs(30)) {
                violations.push(format!("before fault {}: not every node served a write within 30 s", f + 1));
            }
            let victim = wait_leader(target, Duration::from_secs(10)).ok_or("no leader within 10 s")?;
            let kind = if f % 2 == 0 { FaultKind::Kill } else { FaultKind::Pause };
            match kind {
                FaultKind::Kill => target.kill(victim),
                FaultKind::Pause => target.pause(victim, true),
            }
            let at = shared.now();
            // Wall-clock time too, to line faults up with the nodes' logs.
            let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            progress(&format!(
                "fault {}: {kind:?} leader {victim} at {:.3}s (unix {:.3})",
                f + 1,
                at as f64 / 1e9,
                unix.as_secs_f64()
            ));
            match kind {
                FaultKind::Kill => {
                    std::thread::sleep(cfg.down_for);
                    target.start(victim)?;
                }
                FaultKind::Pause => {
                    std::thread::sleep(cfg.paused_for);
                    target.pause(victim, false);
                }
            }
            let restored = shared.now();
            faults.push(Fault { kind, victim, at, restored, until: u64::MAX });
            std::thread::sleep(cfg.quiet);
        }
        Ok(())
    })();
    shared.stop.store(true, Ordering::SeqCst);
    let end = shared.now();
    for t in threads {
        let _ = t.join();
    }
    result?;
    let next: Vec<u64> = faults.iter().skip(1).map(|f| f.at).chain([end]).collect();
    for (f, until) in faults.iter_mut().zip(next) {
        f.until = until;
    }
    let mut history = shared.snapshot();
    let writers = n * per_node;
    let (lost, keys_read) = read_back(target, &shared, &mut history, writers, &mut violations);
    let verdict = linearizability::check(&history);
    match &verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => violations.push(format!("history not linearizable:\n{v}")),
        Verdict::Unknown { key } => violations.push(format!("linearizability undecided on key {key} (budget)")),
    }
    let nodes: Vec<u64> = (1..=n).collect();
    let stalls: Vec<FaultStall> = faults.iter().map(|f| stall::measure(&history, node_of, &nodes, f)).collect();
    let is_write_ack = |o: &&crate::history::Operation| !o.op.is_read() && matches!(o.outcome, Outcome::Ok(_));
    Ok(Report {
        summary: Summary::of(&stalls, target.election_timeout()),
        stalls,
        ops: history.len(),
        ok: history.ops.iter().filter(|o| matches!(o.outcome, Outcome::Ok(_))).count(),
        unknown: history.ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
        acked_writes: history.ops.iter().filter(is_write_ack).count(),
        keys_read,
        lost,
        verdict,
        violations,
        elapsed: begun.elapsed(),
    })
}

/// Reads every writer's keys back into `history` (as reads of a client
/// that is no writer) and checks that each key holds at least its last
/// acknowledged value: values only grow, per key, so anything less is a
/// lost acknowledged write. Returns (lost, keys read).
fn read_back(
    target: &dyn Target,
    shared: &Shared,
    history: &mut History,
    writers: u64,
    violations: &mut Vec<String>,
) -> (usize, usize) {
    let mut last_acked: std::collections::BTreeMap<Key, Value> = Default::default();
    for o in &history.ops {
        let v = match (&o.op, &o.outcome) {
            (Op::Set(_, v), Outcome::Ok(_)) | (Op::Incr(..), Outcome::Ok(Ret::Int(v))) => *v,
            _ => continue,
        };
        let best = last_acked.entry(o.op.key()).or_insert(v);
        *best = (*best).max(v);
    }
    let (mut lost, mut read) = (0, 0);
    for w in 0..writers {
        let (sets, counter) = writers::keys_of(w);
        let counter = target.increments().then_some(counter);
        for key in sets.chain(counter) {
            let id = history.invoke(u64::MAX, Op::Get(key), shared.now());
            match target.read(key) {
                Ok(v) => {
                    history.complete(id, shared.now(), Outcome::Ok(Ret::Value(v)));
                    read += 1;
                    if let Some(&acked) = last_acked.get(&key)
                        && v.is_none_or(|v| v < acked)
                    {
                        lost += 1;
                        violations.push(format!("key {key}: acknowledged value {acked} lost, reads back {v:?}"));
                    }
                }
                Err(e) => violations.push(format!("cannot read key {key} back: {e}")),
            }
        }
    }
    (lost, read)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back fixed values; faults nothing.
    struct Stored(std::collections::BTreeMap<Key, Value>);

    impl Target for Stored {
        fn name(&self) -> String {
            "stored".into()
        }
        fn members(&self) -> u64 {
            1
        }
        fn election_timeout(&self) -> Duration {
            Duration::from_millis(500)
        }
        fn increments(&self) -> bool {
            true
        }
        fn start(&mut self, _: u64) -> Result<(), String> {
            Ok(())
        }
        fn kill(&mut self, _: u64) {}
        fn pause(&mut self, _: u64, _: bool) {}
        fn leader(&self) -> Option<u64> {
            Some(1)
        }
        fn session(&self, _: u64, _: Duration) -> Box<dyn Session> {
            unreachable!("no writers in this test")
        }
        fn read(&self, key: Key) -> Result<Option<Value>, String> {
            Ok(self.0.get(&key).copied())
        }
    }

    fn acked(h: &mut History, op: Op, ret: Ret, at: u64) {
        let id = h.invoke(0, op, at);
        h.complete(id, at + 1, Outcome::Ok(ret));
    }

    /// The canary: a key that reads back older than its last acknowledged
    /// write, and a counter below its last acknowledged increment, are lost
    /// writes; a later unknown write that took effect is not.
    #[test]
    fn a_stale_read_back_is_a_lost_write() {
        let (sets, counter) = writers::keys_of(0);
        let mut h = History::default();
        acked(&mut h, Op::Set(sets.start, 1), Ret::Done, 10);
        acked(&mut h, Op::Set(sets.start, 3), Ret::Done, 20);
        acked(&mut h, Op::Set(sets.start + 1, 5), Ret::Done, 30);
        acked(&mut h, Op::Incr(counter, 1), Ret::Int(1), 40);
        acked(&mut h, Op::Incr(counter, 1), Ret::Int(2), 50);
        let _unknown = h.invoke(0, Op::Set(sets.start + 1, 7), 60);
        let stored = [(sets.start, 1), (sets.start + 1, 7), (counter, 1)].into_iter().collect();
        let (shared, mut violations) = (Shared::new(), Vec::new());
        let (lost, read) = read_back(&Stored(stored), &shared, &mut h, 1, &mut violations);
        assert_eq!((lost, read), (2, 5), "{violations:?}");
        assert!(violations[0].contains("acknowledged value 3 lost, reads back Some(1)"), "{violations:?}");
        // The same history read back intact passes.
        let intact = [(sets.start, 3), (sets.start + 1, 5), (counter, 2), (sets.start + 2, 0)];
        let (mut h2, mut v2) = (h.clone(), Vec::new());
        h2.ops.truncate(6);
        let (lost, _) = read_back(&Stored(intact.into_iter().collect()), &shared, &mut h2, 1, &mut v2);
        assert_eq!(lost, 0, "{v2:?}");
    }
}
