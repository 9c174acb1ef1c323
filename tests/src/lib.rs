//! Test machinery for synod: client histories, the deterministic
//! simulator, the linearizability checker, the scenario suite every
//! adapter runs, and the fuzz target bodies.

extern crate alloc;

pub mod deploy;
pub mod failover;
pub mod fuzz;
pub mod history;
pub mod linearizability;
pub mod nemesis;
pub mod netem;
pub mod scenarios;
pub mod sim;
pub mod sim_single;
pub mod soak;
