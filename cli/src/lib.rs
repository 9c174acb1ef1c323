//! The synod server as a library: the RESP front end (also driven by the
//! fuzz targets), node assembly, and the subcommands the `synod` binary
//! runs.

pub mod args;
pub mod assemble;
pub mod health;
pub mod member;
pub mod metrics;
pub mod recover;
pub mod remote;
pub mod resp;
pub mod rt;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod suspicion;
pub mod sync_stats;
pub mod tuning;
