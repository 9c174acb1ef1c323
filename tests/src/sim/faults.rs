//! The fault schedule: crashes, partitions of every shape, network
//! weather and leadership transfers, drawn from the seed.

use super::world::{Kind, World};
use crate::netem::Conditions;

impl World {
    pub(super) fn schedule_faults(&mut self) {
        let window = self.fault_window();
        let mut t = self.rng.range(50_000_000, 300_000_000);
        while t < window {
            self.schedule(t, Kind::Fault);
            t += self.rng.range(20_000_000, 400_000_000);
        }
        self.schedule(window, Kind::EndFaults);
    }

    pub(super) fn inject_fault(&mut self) {
        let n = self.nodes.len();
        let down = self.nodes.iter().filter(|x| !x.up).count();
        // Only campaigns with membership changes draw the extra cases, so
        // every other seed replays as before.
        // A third of their faults are membership steps: a replacement
        // needs an add first, and a learner caught up.
        let cases = if self.cfg.membership_changes { 16 } else { 11 };
        match self.rng.below(cases) {
            11..=15 => self.member_step(),
            // The whole cluster crashes at once (a power cut, a bad deploy):
            // every node keeps only what its disk kept, and all come back.
            10 if down == 0 && self.rng.chance(0.5) => {
                for i in 0..n {
                    self.crash(i);
                    let back = self.now + self.rng.range(10_000_000, 500_000_000);
                    self.schedule(back, Kind::Restart { node: i });
                }
                self.stats.cluster_crashes += 1;
                self.trace.log(self.now, || "the whole cluster crashed".into());
            }
            0 | 1 if down < (n - 1) / 2 => {
                // Crash one node (the leader a third of the time); it comes
                // back after a while with only what its disk kept.
                let victim = match self.leader() {
                    Some(l) if self.rng.chance(0.33) => l,
                    _ => self.rng.below(n as u64) as usize,
                };
                if self.nodes[victim].up {
                    self.crash(victim);
                    // Rarely the disk loses the log with it, once a run: a
                    // correct node then refuses to start and stays down.
                    // The amnesia canary loses logs more often, so that it
                    // is caught within few seeds (the draw is the same, so
                    // other runs replay unchanged).
                    let p = if self.cfg.canary_amnesia { 0.5 } else { 0.1 };
                    if !self.nodes.iter().any(|x| x.wiped) && self.rng.chance(p) {
                        self.lose_log(victim);
                    }
                    let back = self.now + self.rng.range(10_000_000, 800_000_000);
                    self.schedule(back, Kind::Restart { node: victim });
                }
            }
            2 => self.partition_split(),
            3 => self.partition_isolate_leader(),
            4 => self.partition_bridge(),
            5 => self.partition_one_way(),
            6 => self.partition_flapping(),
            7 => {
                self.net.heal();
                self.trace.log(self.now, || "network healed".into());
            }
            8 => {
                self.stats.weather += 1;
                self.net.cond =
                    if self.rng.chance(0.3) { Conditions::calm() } else { Conditions::rough(&mut self.rng) };
                let c = format!("{:?}", self.net.cond);
                self.trace.log(self.now, || format!("weather: {c}"));
            }
            _ => {
                if let Some(l) = self.leader() {
                    let to = self.rng.below(n as u64) as usize;
                    if to != l {
                        self.transfer(l, to);
                    }
                }
            }
        }
    }

    fn shuffled(&mut self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.nodes.len()).collect();
        for i in (1..v.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }

    /// A minority cut off from a majority.
    fn partition_split(&mut self) {
        let order = self.shuffled();
        let k = 1 + self.rng.below((self.nodes.len() / 2) as u64) as usize;
        let (a, b) = order.split_at(k);
        self.net.split(a, b);
        self.stats.partitions += 1;
        let (a, b) = (a.to_vec(), b.to_vec());
        self.trace.log(self.now, || format!("partition {a:?} | {b:?}"));
    }

    fn partition_isolate_leader(&mut self) {
        let Some(l) = self.leader() else { return };
        let rest: Vec<usize> = (0..self.nodes.len()).filter(|x| *x != l).collect();
        self.net.split(&[l], &rest);
        self.stats.partitions += 1;
        self.trace.log(self.now, || format!("leader {l} isolated"));
    }

    /// Two halves that only one bridge node can reach both of.
    fn partition_bridge(&mut self) {
        let order = self.shuffled();
        let bridge = order[0];
        let rest = &order[1..];
        let k = 1 + self.rng.below((rest.len() - 1).max(1) as u64) as usize;
        let (a, b) = rest.split_at(k.min(rest.len()));
        self.net.split(a, b);
        self.stats.partitions += 1;
        let (a, b) = (a.to_vec(), b.to_vec());
        self.trace.log(self.now, || format!("bridge {bridge}: {a:?} | {b:?}"));
    }

    /// Messages flow one way only on some links (often the leader's).
    fn partition_one_way(&mut self) {
        let n = self.nodes.len();
        let from = match self.leader() {
            Some(l) if self.rng.chance(0.5) => l,
            _ => self.rng.below(n as u64) as usize,
        };
        let outgoing = self.rng.chance(0.5);
        for to in 0..n {
            if to != from && self.rng.chance(0.6) {
                if outgoing {
                    self.net.cut.insert((from, to));
                } else {
                    self.net.cut.insert((to, from));
                }
            }
        }
        self.stats.partitions += 1;
        self.trace.log(self.now, || format!("one-way cut at {from} (outgoing: {outgoing})"));
    }

    /// A link that goes up and down.
    fn partition_flapping(&mut self) {
        let order = self.shuffled();
        let (a, b) = (order[0], order[1]);
        let mut t = self.now;
        let mut cut = true;
        let end = self.now + self.rng.range(100_000_000, 600_000_000);
        while t < end {
            self.schedule(t, Kind::Link { from: a, to: b, cut });
            self.schedule(t, Kind::Link { from: b, to: a, cut });
            cut = !cut;
            t += self.rng.range(5_000_000, 60_000_000);
        }
        self.schedule(t, Kind::Link { from: a, to: b, cut: false });
        self.schedule(t, Kind::Link { from: b, to: a, cut: false });
        self.stats.partitions += 1;
        self.trace.log(self.now, || format!("link {a}<->{b} flapping"));
    }
}
