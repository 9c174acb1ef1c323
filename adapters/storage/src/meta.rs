//! The data directory's identity: which cluster and node it belongs to,
//! checked on every open so a node never starts on another node's log.
//!
//! ```text
//! "SYNODID\0" | u32 format | u64 node id | u32 n | n bytes cluster id (UTF-8) | u32 CRC32C of all before
//! ```
//!
//! The identity is written once, on the first open, only after the log's
//! first record (the opening checkpoint) is durable. So an identity means
//! the log existed, and a directory that has one but no log has lost it
//! ([`StoreError::LogLost`]): the node would forget its vote and the
//! entries it acknowledged. A first open that crashes before the identity
//! is written leaves a log holding nothing, which the next open adopts.
//! Directories of format 1 written before this order (identity first)
//! open unchanged; only one that crashed in its very first open, between
//! identity and checkpoint, now reads as a lost log.

use crate::dir::{self, IDENTITY};
use crate::error::{corrupt, io};
use crate::recovery::Scan;
use std::fs;
use std::path::Path;
use synod_core::id::NodeId;
use synod_net::store::StoreError;

const MAGIC: &[u8; 8] = b"SYNODID\0";

/// The on-disk format this crate writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// Whether a data directory has been claimed by a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// No identity file: a new directory, or a first open that crashed
    /// before writing it.
    Unclaimed,
    /// The identity file names this cluster and node.
    Ours,
}

/// Reads the identity of `dir` and checks it names this cluster and node.
pub(crate) fn check(dir: &Path, cluster_id: &str, node_id: NodeId) -> Result<Claim, StoreError> {
    let path = dir.join(IDENTITY);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Claim::Unclaimed),
        Err(e) => return Err(io("read", &path)(e)),
    };
    let (found_cluster, found_node) = decode(&bytes).map_err(|reason| corrupt(&path, 0, reason))?;
    if found_cluster != cluster_id {
        return Err(StoreError::WrongCluster {
            dir: dir.to_path_buf(),
            found: found_cluster,
            expected: cluster_id.to_owned(),
        });
    }
    if found_node != node_id.0 {
        return Err(StoreError::WrongNode { dir: dir.to_path_buf(), found: found_node, expected: node_id.0 });
    }
    Ok(Claim::Ours)
}

/// Checks that the log `scan` read fits the claim: a claimed directory
/// must still hold a record, and an unclaimed one may hold nothing but
/// what an interrupted first open writes. `segment_files` is how many
/// segment files the directory lists.
pub(crate) fn check_log(
    dir: &Path,
    claim: Claim,
    scan: &Scan,
    node_id: NodeId,
    segment_files: usize,
) -> Result<(), StoreError> {
    match claim {
        Claim::Ours if scan.segments.is_empty() => {
            Err(StoreError::LogLost { dir: dir.to_path_buf(), node: node_id.0, segments: segment_files })
        }
        Claim::Unclaimed if !scan.holds_nothing() => {
            Err(corrupt(&dir.join(IDENTITY), 0, "identity file missing from a data directory that holds a log"))
        }
        _ => Ok(()),
    }
}

/// Claims `dir` for this cluster and node. Call only once the log's first
/// record is durable.
pub(crate) fn claim(dir: &Path, cluster_id: &str, node_id: NodeId) -> Result<(), StoreError> {
    dir::write_atomically(dir, &dir.join(IDENTITY), &encode(cluster_id, node_id))
}

fn encode(cluster_id: &str, node_id: NodeId) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + cluster_id.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT.to_le_bytes());
    b.extend_from_slice(&node_id.0.to_le_bytes());
    b.extend_from_slice(&(cluster_id.len() as u32).to_le_bytes());
    b.extend_from_slice(cluster_id.as_bytes());
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn decode(b: &[u8]) -> Result<(String, u64), &'static str> {
    let (body, crc) = b.split_last_chunk::<4>().ok_or("identity file too short")?;
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc) {
        return Err("identity checksum mismatch");
    }
    let rest = body.strip_prefix(MAGIC).ok_or("not an identity file")?;
    let (format, rest) = rest.split_first_chunk::<4>().ok_or("identity file too short")?;
    if u32::from_le_bytes(*format) != FORMAT {
        return Err("unsupported on-disk format version");
    }
    let (node, rest) = rest.split_first_chunk::<8>().ok_or("identity file too short")?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or("identity file too short")?;
    if rest.len() != u32::from_le_bytes(*len) as usize {
        return Err("identity cluster id length mismatch");
    }
    let cluster = core::str::from_utf8(rest).map_err(|_| "identity cluster id is not UTF-8")?;
    Ok((cluster.to_owned(), u64::from_le_bytes(*node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_every_damage_is_caught() {
        let b = encode("prod-eu", NodeId(3));
        assert_eq!(decode(&b), Ok(("prod-eu".to_owned(), 3)));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut {cut}");
        }
    }
}
