//! Test machinery for synod: the deterministic simulator and the
//! linearizability checker.
