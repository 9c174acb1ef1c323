//! Membership steps against the running cluster, as an operator takes
//! them with `synod member` — grow from three voters to five, shrink back,
//! and replace a voter killed with `kill -9` by a fresh node under a new id
//! — one RESP call at a time, with the other faults (kills, pauses,
//! partitions, transfers) striking between and during the calls.

use super::cluster::Cluster;
use core::time::Duration;
use std::collections::VecDeque;
use synod_core::rand::Rng;

/// Voters the cluster starts with and shrinks back to.
const FEW: usize = 3;
/// Voters it grows to.
const MANY: usize = 5;

/// One thing to do.
#[derive(Clone, Debug)]
enum Action {
    /// Start a spare with `--join`.
    Start(u64),
    /// A `SYNOD.MEMBER` command, asked again until some node answers OK.
    Ask(Vec<String>),
    /// kill -9 a node for good.
    Retire(u64),
}

/// Counts of what was done.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Nodes added and promoted (growing).
    pub grown: u64,
    /// Voters removed and stopped (shrinking).
    pub shrunk: u64,
    /// Voters killed for good and replaced by a fresh node.
    pub replaced: u64,
    /// `SYNOD.MEMBER` commands answered OK.
    pub answered: u64,
    /// Of those asked, refused or not answered, and asked again.
    pub retried: u64,
    /// The most voters the configuration in force had (checked with
    /// `SYNOD.MEMBER LIST` when a promotion is answered).
    pub most_voters: u64,
}

impl Tally {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Tally) {
        self.grown += o.grown;
        self.shrunk += o.shrunk;
        self.replaced += o.replaced;
        self.answered += o.answered;
        self.retried += o.retried;
        self.most_voters = self.most_voters.max(o.most_voters);
    }
}

/// The steps in progress and the voters they lead to.
pub struct Steps {
    queue: VecDeque<Action>,
    /// The voters once every queued step is done.
    voters: Vec<u64>,
    /// What the campaign did.
    pub tally: Tally,
    /// Turns taken asking, so each ask goes to the next live node.
    turn: usize,
    /// What was done and answered, for the report of a step that hung.
    trail: Vec<String>,
    begun: std::time::Instant,
}

impl Steps {
    /// Steps for a cluster founded by `founders`.
    pub fn new(founders: u64) -> Steps {
        let tally = Tally { most_voters: founders, ..Tally::default() };
        Steps {
            queue: VecDeque::new(),
            voters: (1..=founders).collect(),
            tally,
            turn: 0,
            trail: Vec::new(),
            begun: std::time::Instant::now(),
        }
    }

    /// Whether a step is under way.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Plans the next step if none is under way: grow towards five, shrink
    /// towards three, or replace a voter lost to kill -9.
    pub fn plan(&mut self, c: &Cluster, rng: &mut Rng) {
        if self.busy() {
            return;
        }
        // A growth or a replacement takes a fresh id; a shrink does not.
        let fresh = c.unstarted().first().copied();
        let n = self.voters.len();
        let pick = |rng: &mut Rng, v: &[u64]| v[rng.below(v.len() as u64) as usize];
        let add = |new: u64| {
            Action::Ask(vec!["ADD".into(), new.to_string(), c.peer_address(new).expect("spares").to_string()])
        };
        // Up towards five and back down, with replacements in between.
        let grow = match rng.below(4) {
            0 | 1 => Some(n < MANY),
            2 => Some(n <= FEW),
            _ => None,
        };
        match grow {
            Some(true) => {
                let Some(new) = fresh else { return };
                self.queue.extend([Action::Start(new), add(new), Action::Ask(vec!["PROMOTE".into(), new.to_string()])]);
                self.voters.push(new);
                self.tally.grown += 1;
            }
            Some(false) => {
                let old = pick(rng, &self.voters);
                self.queue.extend([Action::Ask(vec!["REMOVE".into(), old.to_string()]), Action::Retire(old)]);
                self.voters.retain(|v| *v != old);
                self.tally.shrunk += 1;
            }
            None => {
                let Some(new) = fresh else { return };
                // The machine is lost first; the fresh node replaces it in
                // one joint change or in two (promote, then remove).
                let old = pick(rng, &self.voters);
                self.queue.extend([Action::Retire(old), Action::Start(new), add(new)]);
                if rng.chance(0.5) {
                    self.queue.push_back(Action::Ask(vec!["REPLACE".into(), old.to_string(), new.to_string()]));
                } else {
                    self.queue.push_back(Action::Ask(vec!["PROMOTE".into(), new.to_string()]));
                    self.queue.push_back(Action::Ask(vec!["REMOVE".into(), old.to_string()]));
                }
                self.voters.retain(|v| *v != old);
                self.voters.push(new);
                self.tally.replaced += 1;
            }
        }
    }

    /// Takes the step under way as far as it goes with one call.
    pub fn advance(&mut self, c: &mut Cluster) -> Result<(), String> {
        while let Some(action) = self.queue.front().cloned() {
            let ask = matches!(action, Action::Ask(_));
            if !self.act(c, action)? || ask {
                break;
            }
        }
        Ok(())
    }

    /// Takes `action` (the front of the queue); true if it is done.
    fn act(&mut self, c: &mut Cluster, action: Action) -> Result<bool, String> {
        let at = self.begun.elapsed().as_secs_f64();
        let what = format!("{action:?}");
        let done = match action {
            Action::Start(i) => c.start(i).map(|()| true)?,
            Action::Retire(i) => {
                c.retire(i);
                true
            }
            Action::Ask(args) => {
                self.turn += 1;
                let answer = ask(c, &args, self.turn);
                if answer.is_ok() {
                    c.membership_changed();
                    self.tally.answered += 1;
                    if args[0] == "PROMOTE"
                        && let Ok((voters, _)) = list(c, self.turn)
                    {
                        self.tally.most_voters = self.tally.most_voters.max(voters.len() as u64);
                    }
                } else {
                    self.tally.retried += 1;
                }
                let ok = answer.is_ok();
                self.trail.push(format!("{at:.1}s {what}: {answer:?}"));
                return Ok(self.done(ok));
            }
        };
        self.trail.push(format!("{at:.1}s {what}"));
        Ok(self.done(done))
    }

    fn done(&mut self, done: bool) -> bool {
        if done {
            self.queue.pop_front();
        }
        done
    }

    /// After healing: finishes the step under way, within `bound`.
    pub fn finish(&mut self, c: &mut Cluster, bound: Duration) -> Result<(), String> {
        let start = std::time::Instant::now();
        while self.busy() {
            if start.elapsed() > bound {
                let trail = self.trail.iter().rev().take(12).rev().cloned().collect::<Vec<_>>().join("\n    ");
                return Err(format!(
                    "membership step not done {}s after healing: {:?}; the last calls:\n    {trail}",
                    bound.as_secs(),
                    self.queue
                ));
            }
            self.advance(c)?;
            std::thread::sleep(Duration::from_millis(200));
        }
        // The configuration in force is the one the steps lead to.
        let mut want = self.voters.clone();
        want.sort_unstable();
        let mut last = String::new();
        for turn in 0..20 {
            match list(c, turn) {
                Ok((voters, learners)) if voters == want && learners.is_empty() => return Ok(()),
                Ok(got) => last = format!("voters {:?}, learners {:?}", got.0, got.1),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!("after every step the configuration should be voters {want:?}; it is {last}"))
    }
}

/// The configuration in force, as `SYNOD.MEMBER LIST` answers it on the
/// `turn`th live node.
fn list(c: &Cluster, turn: usize) -> Result<(Vec<u64>, Vec<u64>), String> {
    let live = c.live();
    let &i = live.get(turn % live.len().max(1)).ok_or("no live node")?;
    let mut conn = super::clients::connect_with(c.resp(i), Duration::from_secs(5)).ok_or("cannot connect")?;
    let text: String = redis::cmd("SYNOD.MEMBER").arg("LIST").query(&mut conn).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let ids = |k: &str| -> Vec<u64> {
        v[k].as_array().map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect()).unwrap_or_default()
    };
    Ok((ids("voters"), ids("learners")))
}

/// Asks `SYNOD.MEMBER args` of one live node (the `turn`th): the node
/// that answered OK, or why not. A refusal (a change in progress, a learner still catching
/// up), a timeout or a lost connection is asked again on a later turn:
/// each step is harmless to repeat.
fn ask(c: &Cluster, args: &[String], turn: usize) -> Result<u64, String> {
    let live = c.live();
    let &i = live.get(turn % live.len().max(1)).ok_or("no live node")?;
    let mut conn = super::clients::connect_with(c.resp(i), Duration::from_secs(5))
        .ok_or_else(|| format!("node {i}: cannot connect"))?;
    let mut cmd = redis::cmd("SYNOD.MEMBER");
    for a in args {
        cmd.arg(a);
    }
    cmd.query::<()>(&mut conn).map(|()| i).map_err(|e| format!("node {i}: {e}"))
}
