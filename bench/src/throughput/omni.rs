//! OmniPaxos 0.2 the way its docs show: an `OmniPaxos` per server over
//! `MemoryStorage`, messages moved with `take_outgoing_messages` and
//! `handle_incoming`, decided entries read with `read_decided_suffix`.
//! `batch_size` is its log batching knob (1, the default, means none).

use std::collections::VecDeque;

use bytes::Bytes;
use omnipaxos::macros::Entry;
use omnipaxos::messages::Message;
use omnipaxos::util::LogEntry;
use omnipaxos::{ClusterConfig, OmniPaxos, ServerConfig};
use omnipaxos_storage::memory_storage::MemoryStorage;

use super::{Cluster, Workload, payload};

/// A replicated command: the same payload type synod uses.
#[derive(Clone, Debug, Entry)]
pub struct Command(pub Bytes);

type Server = OmniPaxos<Command, MemoryStorage<Command>>;

/// An OmniPaxos cluster in one thread.
pub struct Omni {
    servers: Vec<Server>,
    /// Per server: the decided index its "service" has read up to.
    applied: Vec<usize>,
    outgoing: Vec<Message<Command>>,
    queue: VecDeque<Message<Command>>,
    leader: usize,
    /// Commands decided and read at the leader so far.
    committed: u64,
}

impl Omni {
    /// Builds `n` servers with log batches of `batch_size` entries and
    /// runs ballot leader election until server 1 leads in the accept phase.
    pub fn elect(n: u64, batch_size: usize) -> Omni {
        let cluster = ClusterConfig { configuration_id: 1, nodes: (1..=n).collect(), ..ClusterConfig::default() };
        let servers = (1..=n)
            .map(|pid| {
                let server = ServerConfig {
                    pid,
                    batch_size,
                    // Flush a partial batch on every tick; ticks come only
                    // when the cluster would otherwise stall.
                    flush_batch_tick_timeout: 1,
                    // Server 1 wins the election.
                    leader_priority: if pid == 1 { 1 } else { 0 },
                    ..ServerConfig::default()
                };
                cluster.clone().build_for_server(server, MemoryStorage::default()).expect("valid config")
            })
            .collect();
        let mut c = Omni {
            servers,
            applied: vec![0; n as usize],
            outgoing: Vec::new(),
            queue: VecDeque::new(),
            leader: 0,
            committed: 0,
        };
        for _ in 0..1000 {
            if c.servers[0].get_current_leader() == Some((1, true)) {
                break;
            }
            c.tick();
            while c.pump() {}
        }
        assert_eq!(c.servers[0].get_current_leader(), Some((1, true)), "server 1 is elected");
        c
    }

    fn tick(&mut self) {
        for s in &mut self.servers {
            s.tick();
        }
    }

    /// Reads newly decided entries at every server and delivers every
    /// message; false if there was nothing to do.
    fn pump(&mut self) -> bool {
        let mut busy = false;
        for i in 0..self.servers.len() {
            let s = &mut self.servers[i];
            let decided = s.get_decided_idx();
            if decided > self.applied[i] {
                busy = true;
                let entries = s.read_decided_suffix(self.applied[i]).unwrap_or_default();
                let commands = entries.iter().filter(|e| matches!(e, LogEntry::Decided(_))).count() as u64;
                self.applied[i] = decided;
                if i == self.leader {
                    self.committed += commands;
                }
            }
            s.take_outgoing_messages(&mut self.outgoing);
            self.queue.extend(self.outgoing.drain(..));
        }
        while let Some(m) = self.queue.pop_front() {
            busy = true;
            let to = (m.get_receiver() - 1) as usize;
            self.servers[to].handle_incoming(m);
        }
        busy
    }

    /// Entries in the leader's log.
    pub fn leader_log_len(&self) -> u64 {
        self.servers[self.leader].get_accepted_idx() as u64
    }
}

impl Cluster for Omni {
    fn run(&mut self, w: &Workload) -> u64 {
        let start = self.committed;
        let mut proposed = 0;
        let mut idle_ticks = 0;
        while self.committed - start < w.entries {
            while proposed < w.entries && proposed - (self.committed - start) < w.window {
                let data = Bytes::from(payload(w.payload, proposed));
                self.servers[self.leader].append(Command(data)).expect("the leader takes proposals");
                proposed += 1;
            }
            if self.pump() {
                idle_ticks = 0;
            } else {
                // A partial batch waits for a tick to be flushed.
                idle_ticks += 1;
                assert!(idle_ticks < 100, "omnipaxos stalled at {} of {}", self.committed - start, w.entries);
                self.tick();
            }
        }
        self.committed - start
    }
}
