//! Test machinery for synod: client histories, the deterministic
//! simulator and the linearizability checker.

extern crate alloc;

pub mod history;
pub mod linearizability;
