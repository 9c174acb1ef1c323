//! The data directory's identity: which cluster and node it belongs to,
//! written once on first open and checked on every open after, so a node
//! never starts on another node's log.
//!
//! ```text
//! "SYNODID\0" | u32 format | u64 node id | u32 n | n bytes cluster id (UTF-8) | u32 CRC32C of all before
//! ```

use crate::dir::{self, IDENTITY};
use crate::error::{corrupt, io};
use std::fs;
use std::path::Path;
use synod_core::id::NodeId;
use synod_net::store::StoreError;

const MAGIC: &[u8; 8] = b"SYNODID\0";

/// The on-disk format this crate writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// Checks that `dir` belongs to this cluster and node, or claims it if it
/// belongs to no one yet. `has_log` says whether the directory already
/// holds segments: a log without an identity is refused, not adopted.
pub(crate) fn check_or_create(dir: &Path, cluster_id: &str, node_id: NodeId, has_log: bool) -> Result<(), StoreError> {
    let path = dir.join(IDENTITY);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if has_log {
                return Err(corrupt(&path, 0, "identity file missing from a data directory that holds a log"));
            }
            return dir::write_atomically(dir, &path, &encode(cluster_id, node_id));
        }
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
    Ok(())
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
