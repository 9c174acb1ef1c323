//! raft-rs 0.7 (TiKV) the way its docs recommend: a `RawNode` over
//! `MemStorage`, driven by the ready / advance loop with async ready
//! (`advance_append_async`, then `on_persist_ready` once the write is
//! durable — here at once, since the storage is memory).

use std::collections::VecDeque;

use raft::prelude::{ConfState, Entry, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};

use super::{Cluster, Workload, payload};

/// A raft-rs cluster in one thread.
pub struct RaftRs {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
    leader: usize,
    /// Commands committed at the leader so far.
    committed: u64,
}

fn config(id: u64) -> Config {
    // The limits that matter for throughput set as synod's defaults:
    // 1 MiB per append message and 256 of them in flight per follower.
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 3,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        ..Config::default()
    }
}

impl RaftRs {
    /// Builds `n` nodes and elects node 1.
    pub fn elect(n: u64) -> RaftRs {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let voters: Vec<u64> = (1..=n).collect();
        let nodes = (1..=n)
            .map(|id| {
                let storage = MemStorage::new_with_conf_state(ConfState::from((voters.clone(), vec![])));
                RawNode::new(&config(id), storage, &logger).expect("valid config")
            })
            .collect();
        let mut c = RaftRs { nodes, queue: VecDeque::new(), leader: 0, committed: 0 };
        c.nodes[0].campaign().expect("campaign");
        while c.pump() {}
        assert_eq!(c.nodes[0].raft.state, StateRole::Leader, "node 1 is elected");
        c
    }

    /// Handles every node's ready and delivers every message; false if
    /// there was nothing to do.
    fn pump(&mut self) -> bool {
        let mut busy = false;
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            while node.has_ready() {
                busy = true;
                let mut rd = node.ready();
                // A leader's messages go out before its own write (thesis §10.2.1).
                self.queue.extend(rd.take_messages());
                let applied = count_commands(&rd.take_committed_entries());
                if !rd.snapshot().is_empty() {
                    node.mut_store().wl().apply_snapshot(rd.snapshot().clone()).expect("apply snapshot");
                }
                if !rd.entries().is_empty() {
                    node.mut_store().wl().append(rd.entries()).expect("append");
                }
                if let Some(hs) = rd.hs() {
                    node.mut_store().wl().set_hardstate(hs.clone());
                }
                let number = rd.number();
                // Messages that claim the write wait until it is durable.
                self.queue.extend(rd.take_persisted_messages());
                node.advance_append_async(rd);
                node.on_persist_ready(number);
                node.advance_apply();
                if i == self.leader {
                    self.committed += applied;
                }
            }
        }
        while let Some(m) = self.queue.pop_front() {
            busy = true;
            let to = (m.to - 1) as usize;
            self.nodes[to].step(m).expect("step");
        }
        busy
    }

    /// Entries in the leader's log, its empty first entry included.
    pub fn leader_log_len(&self) -> u64 {
        self.nodes[self.leader].raft.raft_log.last_index()
    }
}

fn count_commands(entries: &[Entry]) -> u64 {
    entries.iter().filter(|e| !e.data.is_empty()).count() as u64
}

impl Cluster for RaftRs {
    fn run(&mut self, w: &Workload) -> u64 {
        let start = self.committed;
        let mut proposed = 0;
        while self.committed - start < w.entries {
            while proposed < w.entries && proposed - (self.committed - start) < w.window {
                self.nodes[self.leader]
                    .propose(vec![], payload(w.payload, proposed))
                    .expect("the leader takes proposals");
                proposed += 1;
            }
            assert!(self.pump(), "raft-rs stalled at {} of {}", self.committed - start, w.entries);
        }
        self.committed - start
    }
}
