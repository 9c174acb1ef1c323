//! # synod-core
//!
//! Pure, `no_std` state machines for replicated, fault-tolerant services:
//! Raft, Paxos, a single-node log, and the pieces services are built from.
//! Nothing here touches a socket, a file, a clock or a global random
//! generator: time and randomness are inputs, outputs are pulled, and every
//! run can be replayed from a seed.
//!
//! Start with [`replica`]: the interface every consensus protocol
//! implements, with its call order and a runnable drive loop.
//!
//! | module | what it holds |
//! |---|---|
//! | [`time`] | [`time::Instant`]: nanoseconds since the caller's epoch |
//! | [`rand`] | [`rand::Rng`]: the seeded generator each machine owns |
//! | [`id`] | [`id::NodeId`], [`id::ZoneId`], [`id::Term`], [`id::LogIndex`], [`id::Ballot`] |
//! | [`replica`] | the replicated-log interface, its inputs and outputs |
//! | [`raft`] | Raft with pre-vote, check-quorum, leases, joint consensus |
//! | [`paxos`] | single-decree Paxos ([`paxos::single::Decree`], a one-value consensus object) and Multi-Paxos ([`paxos::multi::MultiPaxos`], a [`replica::Replica`] like Raft) |
//! | [`solo`] | a one-node log that commits what it persists |
//! | [`service`] | deterministic services applied to committed entries: [`service::kv::Kv`], and [`service::Store`] — KV, [`service::Leases`], [`service::Locks`] with fencing tokens, exactly-once [`service::Sessions`], expiry decided in the log |
//! | [`lease`] | the client's side of leases and locks: [`lease::LeaseTracker`] (jeopardy, grace), [`lease::FencingToken`], [`lease::FenceGuard`] |
//! | [`hash`] | consistent hashing: ring, jump, rendezvous, Maglev, bounded loads, preference lists |
//! | [`balance`] | load balancers behind one [`balance::Balancer`] trait: round robin to peak-EWMA |
//! | [`detect`] | the phi-accrual failure detector |

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
// Only for the derived `Arbitrary` impls, which name `std`; fuzzing is
// hosted, the no_std build never enables the feature.
#[cfg(feature = "arbitrary")]
extern crate std;

pub mod balance;
pub mod detect;
pub mod hash;
pub mod id;
pub mod lease;
pub mod paxos;
pub mod raft;
pub mod rand;
pub mod replica;
pub mod service;
pub mod solo;
pub mod time;
