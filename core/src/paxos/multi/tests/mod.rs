//! Scenario tests for Multi-Paxos, each named after what it proves.

mod harness;

mod acceptor;
mod durability;
mod election;
mod membership;
mod read_back;
mod reads;
mod recovery;
mod replication;
mod robustness;
mod snapshot;
mod transfer;
