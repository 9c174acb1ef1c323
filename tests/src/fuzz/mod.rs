//! The bodies of the fuzz targets, shared by `fuzz/` (cargo-fuzz) and by
//! `cargo test`, which replays every committed corpus file through them.
//! Each body must never panic on any input; a panic is a finding.

mod backup;
mod cluster;
mod net;
mod placement;
mod resp;
mod store;
mod wal;

pub use backup::backup_file;
pub use cluster::{multi_paxos_cluster, raft_cluster};
pub use net::{frame_stream, handshake};
pub use placement::placement;
pub use resp::resp_front_end;
pub use store::store_commands;
pub use wal::wal_recovery;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame_stream", frame_stream),
    ("handshake", handshake),
    ("raft_cluster", raft_cluster),
    ("multi_paxos_cluster", multi_paxos_cluster),
    ("store_commands", store_commands),
    ("placement", placement),
    ("resp_front_end", resp_front_end),
    ("wal_recovery", wal_recovery),
    ("backup_file", backup_file),
];
