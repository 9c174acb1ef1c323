//! A three-node cluster driven entirely by fuzz input: which message is
//! delivered, dropped, duplicated or reordered, which links are cut
//! (through the shared network emulator, [`crate::netem`]), whose timer
//! fires, who proposes, syncs, crashes (losing unsynced writes) or
//! restarts, and hostile messages injected from nowhere. Safety is checked throughout;
//! a panic anywhere is a finding.

use crate::netem::{Network, Wire};
use crate::sim::Protocol;
use crate::sim::disk::{Disk, Stored};
use crate::sim::invariants::Invariants;
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use synod_core::id::NodeId;
use synod_core::paxos::multi;
use synod_core::raft;
use synod_core::replica::{self, Event, Membership, Output, ReadId, Replica, Role};
use synod_core::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Action {
    Deliver(u8),
    Drop(u8),
    Duplicate(u8),
    Timeout {
        node: u8,
        advance_ms: u16,
    },
    Propose {
        node: u8,
        payload: u8,
    },
    Read(u8),
    Sync(u8),
    Crash {
        node: u8,
        keep: u8,
    },
    Compact(u8),
    Transfer {
        from: u8,
        to: u8,
    },
    Inject {
        from: u8,
        to: u8,
        msg: Forged,
    },
    /// Cuts the nodes whose bit is set in `side` off from the others; a
    /// one-way cut if `one_way` (only messages out of `side` are lost).
    Partition {
        side: u8,
        one_way: bool,
    },
    Heal,
}

/// A message from nowhere, in either protocol: a replica must survive the
/// other protocol's messages as well as its own.
#[derive(Arbitrary, Debug)]
enum Forged {
    Raft(raft::Message),
    MultiPaxos(multi::Message),
}

struct Node {
    replica: Box<dyn Replica>,
    disk: Disk,
    applied: u64,
    now: Instant,
}

const N: usize = 3;

fn build(protocol: Protocol, id: usize, now: Instant, recovered: replica::Recovered) -> Box<dyn Replica> {
    let mut params = crate::sim::Params::draw(&mut synod_core::rand::Rng::with_seed(id as u64));
    params.raft.election_timeout = Duration::from_millis(100);
    params.raft.heartbeat_interval = Duration::from_millis(20);
    let members = Membership::voters_only((1..=N as u64).map(NodeId)).expect("voters");
    crate::sim::make_replica(protocol, &params, NodeId(id as u64 + 1), now, recovered, members, id as u64, None)
}

/// Runs a cluster of `protocol` replicas under the fuzz input's control.
///
/// # Panics
/// On any safety violation while every peer is honest, or on a replica's
/// own panic: both are findings.
pub fn drive(protocol: Protocol, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut nodes: Vec<Node> = (0..N)
        .map(|i| Node {
            replica: build(protocol, i, Instant::ZERO, Default::default()),
            disk: Disk::default(),
            applied: 0,
            now: Instant::ZERO,
        })
        .collect();
    let mut net = Network::new();
    let mut wire: Wire<replica::Message> = Wire::new();
    let mut inv = Invariants::default();
    inv.log_matching = protocol == Protocol::Raft;
    let mut out = Output::default();
    let mut next_read = 0;
    // Raft tolerates crashes and a lossy network, not lying peers: once a
    // forged message is injected, only "no panic, no runaway" is checked.
    let mut honest = true;
    for _ in 0..256 {
        let Ok(action) = Action::arbitrary(&mut u) else { break };
        let pick = |b: u8| usize::from(b) % N;
        match action {
            Action::Deliver(i) => {
                if let Some((from, to, msg)) = wire.take(usize::from(i)) {
                    let n = &mut nodes[to];
                    let _ = n.replica.handle_message(n.now, NodeId(from as u64 + 1), msg);
                }
            }
            Action::Duplicate(i) => {
                if let Some((from, to, msg)) = wire.copy(usize::from(i)) {
                    let n = &mut nodes[to];
                    let _ = n.replica.handle_message(n.now, NodeId(from as u64 + 1), msg);
                }
            }
            Action::Drop(i) => {
                wire.take(usize::from(i));
            }
            Action::Partition { side, one_way } => {
                net.heal();
                let (a, b): (Vec<usize>, Vec<usize>) = (0..N).partition(|i| side & (1 << i) != 0);
                if one_way {
                    for &x in &a {
                        for &y in &b {
                            net.cut.insert((x, y));
                        }
                    }
                } else {
                    net.split(&a, &b);
                }
                wire.apply_cuts(&net);
            }
            Action::Heal => net.heal(),
            Action::Timeout { node, advance_ms } => {
                let n = &mut nodes[pick(node)];
                n.now += Duration::from_millis(u64::from(advance_ms));
                n.replica.handle_timeout(n.now);
            }
            Action::Propose { node, payload } => {
                let n = &mut nodes[pick(node)];
                let _ = n.replica.propose(n.now, Bytes::from(vec![payload]));
            }
            Action::Read(node) => {
                next_read += 1;
                let n = &mut nodes[pick(node)];
                let _ = n.replica.read(n.now, ReadId(next_read));
            }
            Action::Sync(node) => {
                let i = pick(node);
                let n = &mut nodes[i];
                let mut stored = Vec::new();
                if let Some(id) = n.disk.sync(u64::MAX, &mut stored) {
                    n.replica.handle_persisted(n.now, id);
                }
                if honest {
                    check_stored(&mut inv, i, &stored);
                }
            }
            Action::Crash { node, keep } => {
                let i = pick(node);
                let mut stored = Vec::new();
                let n = &mut nodes[i];
                n.disk.crash(usize::from(keep % 4), &mut stored);
                if honest {
                    check_stored(&mut inv, i, &stored);
                }
                n.replica = build(protocol, i, n.now, n.disk.durable.clone());
                n.applied = 0;
                wire.lose_to(i);
            }
            Action::Compact(node) => {
                let n = &mut nodes[pick(node)];
                if n.applied > 0 {
                    let _ = n.replica.compact(n.now, synod_core::id::LogIndex(n.applied), Bytes::from_static(b"state"));
                }
            }
            Action::Transfer { from, to } => {
                let n = &mut nodes[pick(from)];
                let _ = n.replica.transfer_leader(n.now, NodeId(pick(to) as u64 + 1));
            }
            Action::Inject { from, to, msg } => {
                honest = false;
                let (from, to) = (pick(from), pick(to));
                let n = &mut nodes[to];
                let msg = match msg {
                    Forged::Raft(m) => replica::Message::Raft(m),
                    Forged::MultiPaxos(m) => replica::Message::MultiPaxos(m),
                };
                let _ = n.replica.handle_message(n.now, NodeId(from as u64 + 1), msg);
            }
        }
        for (i, n) in nodes.iter_mut().enumerate() {
            loop {
                // The `Replica` contract, under forged input too: `has_output`
                // says exactly whether `poll_output` yields anything.
                let predicted = n.replica.has_output();
                n.replica.poll_output(&mut out);
                assert_eq!(predicted, !out.is_empty(), "node {}: has_output disagrees with {out:?}", i + 1);
                if out.is_empty() {
                    break;
                }
                if let Some(p) = out.persist.take() {
                    n.disk.write(p, 0);
                }
                for env in out.messages.drain(..) {
                    // A forged snapshot can carry a membership naming nodes
                    // that do not exist; what is sent to them goes nowhere.
                    match usize::try_from(env.to.0) {
                        Ok(to @ 1..=N) => wire.send(&net, i, to - 1, env.msg),
                        _ => assert!(!honest, "node {} sent to {:?}, outside the cluster", i + 1, env.to),
                    }
                }
                if let Some(s) = out.restore.take() {
                    n.applied = s.meta.index.0;
                }
                let term = n.replica.status().term;
                for e in out.committed.drain(..) {
                    assert_eq!(e.index.0, n.applied + 1, "entries applied out of order");
                    n.applied = e.index.0;
                    if let Err(v) = inv.applied(NodeId(i as u64 + 1), &e, term)
                        && honest
                    {
                        panic!("{}: {}", v.property, v.detail);
                    }
                }
                for ev in out.events.drain(..) {
                    if let Event::RoleChanged { role: Role::Leader, term, .. } = ev
                        && let Err(v) = inv.leader(NodeId(i as u64 + 1), term)
                        && honest
                    {
                        panic!("{}: {}", v.property, v.detail);
                    }
                }
                out.clear();
            }
        }
        // A hostile sender could flood the queue; keep the model bounded.
        if wire.len() > 512 {
            wire.lose_oldest(256);
        }
    }
}

fn check_stored(inv: &mut Invariants, node: usize, stored: &[Stored]) {
    for s in stored {
        if let Err(v) = inv.stored(NodeId(node as u64 + 1), s) {
            panic!("{}: {}", v.property, v.detail);
        }
    }
}

/// The Raft fuzz target.
pub fn raft_cluster(data: &[u8]) {
    drive(Protocol::Raft, data);
}

/// The Multi-Paxos fuzz target: the same cluster, driven the same way.
pub fn multi_paxos_cluster(data: &[u8]) {
    drive(Protocol::MultiPaxos, data);
}
