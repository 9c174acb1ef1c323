//! One simulated node: the shipped node machine over a replica of any
//! protocol and the store, its disk and its clock.

use super::canary::{self, ServiceFault};
use super::disk::Disk;
use super::invariants::Violation;
use super::locks;
use super::world::{REQUEST_TIMEOUT, TICK};
use super::{Params, SimConfig, make_replica};
use bytes::Bytes;
use std::sync::Arc;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Membership, Recovered};
use synod_core::service::{Admitted, RestoreError, Service, Store};
use synod_core::time::{Duration, Instant};
use synod_net::node::{Machine, NodeConfig, ServiceTick, TickTime};

/// A client request a node is holding until it can answer.
#[derive(Clone, Copy, Debug)]
pub enum Pending {
    /// A KV operation of the recorded history.
    Kv {
        /// The client (position).
        client: usize,
        /// The history id of the operation.
        op: usize,
    },
    /// A KV client opening its session.
    Open {
        /// The client (position).
        client: usize,
        /// Which send of the open.
        attempt: u32,
    },
    /// A lock client's step.
    Lock {
        /// The lock client (position).
        client: usize,
        /// Its request number.
        seq: u64,
    },
}

/// A node's monotonic clock, as a process sees it: it starts at some
/// reading when the process starts (`offset` at global time `start`) and
/// runs at `1 + ppm / 1e6` of real time. A restart is a new process, so a
/// new epoch: `start` moves and `offset` is drawn again, as a real
/// runtime's clock starts again near zero. Nothing may compare readings
/// from two lives or two nodes.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Global time the process started, ns.
    pub start: u64,
    /// The reading at `start`, ns.
    pub offset: u64,
    /// Drift, parts per million (may be negative); the machine's, so it
    /// survives restarts.
    pub ppm: i64,
}

impl Clock {
    /// Local time at global time `g` (no earlier than the process start).
    pub fn local(&self, g: u64) -> u64 {
        let run = g.saturating_sub(self.start);
        let drift = (run as i128 * self.ppm as i128 / 1_000_000) as i64;
        (self.offset as i64 + run as i64 + drift).max(0) as u64
    }

    /// The earliest global time at which local time reaches `l`.
    pub fn global(&self, l: u64) -> u64 {
        if self.local(self.start) >= l {
            return self.start;
        }
        let run = (l.saturating_sub(self.offset) as i128 * 1_000_000 / (1_000_000 + self.ppm as i128)) as u64;
        let mut g = (self.start + run).saturating_sub(4).max(self.start);
        while self.local(g) < l {
            g += 1;
        }
        g
    }

    /// The clock of the same machine's next process, started at `now`
    /// with the reading `offset`.
    pub fn restarted(&self, now: u64, offset: u64) -> Clock {
        Clock { start: now, offset, ppm: self.ppm }
    }
}

/// One node: the shipped node machine (`synod_net::node::Machine`) over
/// the store, with the simulator's disk and clock around it.
pub struct SimNode {
    /// Its id.
    pub id: NodeId,
    /// The node machine, as `synod node` runs it.
    pub machine: Machine<Checked>,
    /// False while crashed.
    pub up: bool,
    /// Its storage.
    pub disk: Disk,
    /// Its disk lost the log but kept the identity: a correct node
    /// refuses to start on it ([`StoreError::LogLost`]).
    ///
    /// [`StoreError::LogLost`]: synod_net::store::StoreError::LogLost
    pub wiped: bool,
    /// Highest index the machine applied in this life, as its notes say.
    pub applied: LogIndex,
    /// Highest commit index seen in this life.
    pub commit: LogIndex,
    /// Its clock.
    pub clock: Clock,
    /// The global time its timer is scheduled for.
    pub timer_at: Option<u64>,
    /// The global time its next sync is scheduled for.
    pub sync_at: Option<u64>,
    /// Whether it currently believes itself leader (to spot new leaderships).
    pub leading: Option<Term>,
    /// Which process of this node is running (frames sent to an earlier
    /// one are lost).
    pub life: u64,
}

/// Starts a process of node `id` at global time `at` on what its disk
/// recovered: the replica, and the node machine over it with the
/// simulator's timeouts and the leader's ticks as `synod node` sets them
/// (the old-time-base canary ticks its clock's reading instead), with
/// `cfg.canary`'s fault planted if it names one.
#[allow(clippy::too_many_arguments)]
pub fn start(
    cfg: &SimConfig,
    params: &Params,
    id: NodeId,
    clock: &Clock,
    at: u64,
    recovered: Recovered,
    membership: &Membership,
    seed: u64,
) -> Machine<Checked> {
    let now = Instant::from_nanos(clock.local(at));
    let replica = make_replica(cfg.protocol, params, id, now, recovered, membership.clone(), seed, cfg.canary);
    let replica = canary::plant(cfg.canary, cfg.protocol, now, replica);
    let mut node = NodeConfig::new(id);
    node.request_timeout = Duration::from_nanos(REQUEST_TIMEOUT);
    node.snapshot_every = params.snapshot_every;
    node.record = true;
    node.seed = seed.rotate_left(17) ^ 0x5eed;
    let old_time_base = cfg.canary_old_time_base;
    let command = move |t: TickTime| {
        if old_time_base { Store::tick(t.now) } else { Store::clock_tick(t.term.0, t.elapsed) }
    };
    node.service_tick = Some(ServiceTick { every: Duration::from_nanos(TICK), command: Arc::new(command) });
    let service = Checked { fault: ServiceFault::new(cfg.canary, id), ..Checked::default() };
    Machine::new(node, replica, service, now)
}

/// The store as a node applies it, with the lease and lock properties
/// checked across every apply (`locks::check`): the first broken one is
/// kept for the world to report. A canary run may plant a fault in it.
#[derive(Default)]
pub struct Checked {
    /// The service itself.
    pub store: Store,
    /// The first property an apply broke.
    pub violation: Option<Violation>,
    /// The planted fault, in canary runs only.
    pub fault: Option<ServiceFault>,
}

impl Service for Checked {
    fn apply(&mut self, index: LogIndex, command: &Bytes) -> Bytes {
        let before = locks::tables(&self.store);
        let planted = self.fault.as_mut().and_then(|f| f.command(&self.store, command));
        let mut reply = Service::apply(&mut self.store, index, planted.as_ref().unwrap_or(command));
        let mut after = locks::tables(&self.store);
        if let Some(f) = &mut self.fault {
            f.applied(&self.store, command, &before, &mut after);
            reply = f.reply(command, reply);
        }
        if let (None, Err(v)) = (&self.violation, locks::check_tables(&before, &after, command)) {
            self.violation = Some(v);
        }
        reply
    }
    fn query(&self, query: &Bytes) -> Bytes {
        let store = self.fault.as_ref().and_then(ServiceFault::reads).unwrap_or(&self.store);
        Service::query(store, query)
    }
    fn check(&self, command: &Bytes) -> Result<Admitted, Bytes> {
        Service::check(&self.store, command)
    }
    fn snapshot(&self) -> Bytes {
        let planted = self.fault.as_ref().and_then(|f| f.snapshot(&self.store));
        planted.unwrap_or_else(|| Service::snapshot(&self.store))
    }
    fn restore(&mut self, snapshot: &Bytes) -> Result<(), RestoreError> {
        if let Some(f) = &mut self.fault {
            f.restored();
        }
        Service::restore(&mut self.store, snapshot)
    }
    fn applied(&self) -> LogIndex {
        Service::applied(&self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_restarted_clock_starts_a_new_epoch_and_global_inverts_local() {
        let c = Clock { start: 0, offset: 7_000_000_000, ppm: 4_000 };
        let r = c.restarted(2_000_000_000, 5);
        assert_eq!(r.local(2_000_000_000), 5);
        assert_eq!(r.local(1_000_000_000), 5, "no reading before the process started");
        assert_eq!(r.local(3_000_000_000), 5 + 1_004_000_000, "the machine's drift is kept");
        for clock in [c, r, Clock { start: 10, offset: 3, ppm: -4_999 }] {
            for l in [0, 1, 999_999, 1_234_567_891, 9_000_000_000] {
                let g = clock.global(l);
                assert!(clock.local(g) >= l && (g == clock.start || clock.local(g - 1) < l), "{clock:?} {l}");
            }
        }
    }
}
