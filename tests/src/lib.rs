//! Test machinery for synod: client histories, the deterministic
//! simulator and the linearizability checker.

pub mod fuzz;
pub mod history;
pub mod sim;
pub mod sim_single;
