//! Scenario tests for Raft, each named after what it proves.

mod harness;

mod append_rules;
mod durability;
mod election;
mod election_rules;
mod interface;
mod membership;
mod read_back;
mod reads;
mod replication;
mod robustness;
mod snapshot;
mod transfer;
