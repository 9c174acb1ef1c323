//! Test machinery for synod: client histories, the deterministic
//! simulator and the linearizability checker.

pub mod fuzz;
pub mod history;
pub mod scenarios;
pub mod sim;
