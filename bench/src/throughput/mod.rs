//! Core throughput: synod's Raft next to raft-rs and OmniPaxos under one
//! workload, so that their figures come from the same process run.
//!
//! Every cluster here runs its replicas in one thread, with in-memory
//! storage that reports writes durable at once, and hands messages from one
//! replica to another directly (no serialisation). One elected leader is
//! fed proposals of fresh `payload`-byte buffers, with at most `window`
//! proposed but not yet committed at the leader, until `entries` have
//! committed there. Every replica takes the committed entries its library
//! hands out (or reads them, where the library keeps them in storage) and
//! drops them, as a service would after applying them.
//!
//! Timing starts after the election: build a cluster with `elect`, then
//! time [`Cluster::run`].

pub mod args;
pub mod omni;
pub mod raft_rs;
pub mod synod;

/// What every implementation is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Replicas in the cluster.
    pub replicas: u64,
    /// Bytes per proposal.
    pub payload: usize,
    /// Entries to commit.
    pub entries: u64,
    /// Most entries proposed and not yet committed at the leader.
    pub window: u64,
}

/// A cluster with an elected leader, ready to take proposals.
pub trait Cluster {
    /// Proposes `w.entries` entries at the leader, never more than
    /// `w.window` uncommitted, and drives the cluster until all of them
    /// are committed at the leader. Returns how many committed there.
    fn run(&mut self, w: &Workload) -> u64;
}

/// A freshly allocated payload, as a client request would bring it.
pub fn payload(size: usize, seq: u64) -> Vec<u8> {
    let mut v = vec![0u8; size];
    // Distinct contents, so nothing can share or skip identical payloads.
    let n = size.min(8);
    v[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
    v
}

/// Builds a cluster of `imp` for `w` and elects its leader.
pub fn elect(imp: args::Implementation, w: &Workload) -> Box<dyn Cluster> {
    match imp {
        args::Implementation::SynodRaft => Box::new(synod::SynodRaft::elect(w.replicas)),
        args::Implementation::SynodMultiPaxos => Box::new(synod::SynodMultiPaxos::elect(w.replicas)),
        args::Implementation::RaftRs => Box::new(raft_rs::RaftRs::elect(w.replicas)),
        args::Implementation::Omni(b) => Box::new(omni::Omni::elect(w.replicas, b)),
    }
}
