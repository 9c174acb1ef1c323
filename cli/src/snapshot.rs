//! `synod snapshot`: back up a running cluster, check a backup, and seed
//! a new cluster's data directories from one.
//!
//! `save` asks a node for a backup (`SYNOD.BACKUP`): the node takes it
//! once it has applied everything committed before the request, so it
//! holds every write acknowledged before `save` started. The file is
//! written beside its destination, synced, checked whole (format,
//! checksum, every field) and only then renamed into place, so a failed or
//! interrupted save never leaves a damaged backup under the name asked for,
//! nor replaces a good one.
//!
//! `restore` writes the backup into a new data directory as its snapshot,
//! with the new cluster's configuration in place of the old one's. Every
//! founding voter must be restored from the same backup: a voter starting
//! empty could be elected by other empty voters and the backup's data
//! would be lost (Raft §5.4.1 elects only among the most up to date of a
//! majority, and an empty majority is up to date with itself).

use crate::args::{RemoteOpts, SnapshotAction, SnapshotArgs};
use crate::remote::Session;
use bytes::Bytes;
use core::time::Duration;
use redis_protocol::resp2::types::OwnedFrame;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use synod_core::id::NodeId;
use synod_core::replica::{HardState, Membership, Persist, PersistId, Snapshot};
use synod_net::store::LogStore;
use synod_storage::{Storage, StorageConfig};

type Error = String;

/// How long taking the backup may take: a linearizable read, then a copy
/// of the whole state.
const TAKE: Duration = Duration::from_secs(60);

/// Bytes asked for per read; the node may send fewer (its reply limit).
const CHUNK: usize = 1 << 20;

/// Runs `synod snapshot …`.
pub fn snapshot(a: SnapshotArgs) -> Result<(), Error> {
    match a.action {
        SnapshotAction::Save { file, remote } => {
            let snap = save(&remote, &file)?;
            println!("saved {}: {}", file.display(), describe(&snap));
        }
        SnapshotAction::Inspect { file } => {
            let snap = read(&file)?;
            println!("{}: {}", file.display(), describe(&snap));
        }
        SnapshotAction::Restore { file, data_dir, id, members, cluster_id } => {
            let snap = read(&file)?;
            let members = parse_members(&members)?;
            restore(snap, &data_dir, NodeId(id), &members, &cluster_id)?;
            println!(
                "restored {} into {} for node {id} of cluster {cluster_id:?}; restore every other voter \
                 ({}) from the same file, then start them",
                file.display(),
                data_dir.display(),
                members.keys().filter(|m| **m != NodeId(id)).map(|m| m.0.to_string()).collect::<Vec<_>>().join(", "),
            );
        }
    }
    Ok(())
}

/// What a backup holds, in one line.
fn describe(s: &Snapshot) -> String {
    let ids = |v: &[NodeId]| v.iter().map(|i| i.0.to_string()).collect::<Vec<_>>().join(",");
    let m = &s.meta.membership;
    let mut out = format!(
        "index {}, term {}, {} bytes of state, voters {}",
        s.meta.index.0,
        s.meta.term.0,
        s.data.len(),
        ids(m.voters())
    );
    if !m.learners().is_empty() {
        out += &format!(", learners {}", ids(m.learners()));
    }
    if m.is_joint() {
        out += &format!(" (joint with {})", ids(m.outgoing()));
    }
    out
}

/// Reads and checks a backup file.
pub fn read(file: &Path) -> Result<Snapshot, Error> {
    let bytes = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    synod_net::backup::decode(Bytes::from(bytes)).map_err(|e| format!("{}: {e}", file.display()))
}

/// Takes a backup through `remote` and writes it to `file`.
pub fn save(remote: &RemoteOpts, file: &Path) -> Result<Snapshot, Error> {
    let mut s = Session::open(&remote.addr, remote.login(), TAKE)?;
    let total = match s.call(&[b"SYNOD.BACKUP", b"TAKE"])? {
        OwnedFrame::Array(items) => match items.first() {
            Some(OwnedFrame::Integer(n)) if *n >= 0 => *n as usize,
            _ => return Err(format!("unexpected answer to SYNOD.BACKUP TAKE: {items:?}")),
        },
        other => return Err(format!("unexpected answer to SYNOD.BACKUP TAKE: {other:?}")),
    };
    let mut bytes = Vec::with_capacity(total);
    while bytes.len() < total {
        let (offset, count) = (bytes.len().to_string(), CHUNK.to_string());
        match s.call(&[b"SYNOD.BACKUP", b"READ", offset.as_bytes(), count.as_bytes()])? {
            OwnedFrame::BulkString(b) if !b.is_empty() && bytes.len() + b.len() <= total => bytes.extend_from_slice(&b),
            other => {
                return Err(format!(
                    "the node stopped sending the backup at byte {} of {total} ({other:?})",
                    bytes.len()
                ));
            }
        }
    }
    // Dropping it now frees the node's copy; the connection's end would too.
    let _ = s.call(&[b"SYNOD.BACKUP", b"DONE"]);
    // Checked whole before anything is written; the snapshot shares the
    // bytes rather than copying a possibly large state.
    let bytes = Bytes::from(bytes);
    let snap = synod_net::backup::decode(bytes.clone())
        .map_err(|e| format!("the backup {} sent does not check: {e}", remote.addr))?;
    write_durably(file, &bytes)?;
    Ok(snap)
}

/// Writes `bytes` to `file` whole or not at all: a temporary file beside
/// it, synced, renamed over it, the directory synced.
fn write_durably(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = file.file_name().ok_or_else(|| format!("{} is not a file name", file.display()))?;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let attempt = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    attempt.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {}: {e}", file.display())
    })
}

/// `ID=HOST:PORT` or `ID`, each.
fn parse_members(list: &[String]) -> Result<BTreeMap<NodeId, Option<String>>, Error> {
    let mut m = BTreeMap::new();
    for item in list {
        let (id, addr) = match item.split_once('=') {
            Some((id, addr)) => (id, Some(addr.trim().to_string())),
            None => (item.as_str(), None),
        };
        let id: u64 = id.trim().parse().map_err(|_| format!("member {item:?} is not ID or ID=HOST:PORT"))?;
        if m.insert(NodeId(id), addr).is_some() {
            return Err(format!("member {id} named twice"));
        }
    }
    Ok(m)
}

/// Seeds `dir` for node `id` of `cluster_id` from `snap`, with `members`
/// as the configuration.
pub fn restore(
    mut snap: Snapshot,
    dir: &Path,
    id: NodeId,
    members: &BTreeMap<NodeId, Option<String>>,
    cluster_id: &str,
) -> Result<(), Error> {
    if !members.contains_key(&id) {
        return Err(format!("node {} is not among --members", id.0));
    }
    let addresses = members.iter().filter_map(|(m, a)| a.clone().map(|a| (*m, Bytes::from(a))));
    snap.meta.membership = Membership::voters_only(members.keys().copied())
        .and_then(|m| m.with_addresses(addresses))
        .map_err(|e| format!("--members: {e}"))?;
    // The term the backup's last entry had: the new cluster's first
    // election moves past it. No vote: nobody has asked for one yet.
    let hard_state = HardState { term: snap.meta.term, vote: None, commit: snap.meta.index };
    let mut store = open_fresh(dir, cluster_id, id)?;
    let batch = Persist { id: PersistId(1), snapshot: Some(snap), hard_state: Some(hard_state), ..Default::default() };
    futures::executor::block_on(store.persist(vec![batch])).map_err(|e| format!("{}: {e}", dir.display()))
}

/// A store on a new data directory for node `id` of `cluster_id`: `dir`
/// must not exist or be empty, since a node's old log would contradict
/// what is written into it.
pub(crate) fn open_fresh(dir: &Path, cluster_id: &str, id: NodeId) -> Result<Storage, Error> {
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(format!(
            "{} is not empty: seed only a new data directory (a node's old log would contradict what is written)",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Storage::open(dir, StorageConfig::new(cluster_id, id)).map_err(|e| format!("{}: {e}", dir.display()))
}
