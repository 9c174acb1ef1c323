//! WAL recovery from a damaged data directory: a real store's files
//! (identity, segments, snapshot) with arbitrary cuts, byte changes,
//! replacements and extra files, opened by `synod-storage`. Opening and
//! loading must end in a recovered log or a typed error, never a panic;
//! and when the files are left as they were, recovery returns exactly
//! what was written.

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, HardState, Membership, Persist, PersistId, Recovered, Snapshot, SnapshotMeta};
use synod_net::store::LogStore;
use synod_storage::{Storage, StorageConfig};

const CLUSTER: &str = "fuzz";

#[derive(Arbitrary, Debug)]
enum Damage {
    /// Cut the file at this offset (modulo its length).
    Truncate(u32),
    /// XOR bytes at these offsets.
    Flip(Vec<(u32, u8)>),
    /// Replace the file's content.
    Replace(Vec<u8>),
    /// Remove the file.
    Remove,
}

#[derive(Arbitrary, Debug)]
enum Extra {
    /// A segment after the last one.
    Segment(Vec<u8>),
    /// A stray snapshot file.
    Snapshot(Vec<u8>),
    /// A half-written temporary file.
    Temp(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    damage: Vec<(u8, Damage)>,
    extra: Option<Extra>,
}

/// The files of a store that took a few batches and a snapshot, and what
/// recovering them must give.
struct Template {
    files: Vec<(String, Vec<u8>)>,
    recovered: Recovered,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = scratch("template");
        let config = || StorageConfig::new(CLUSTER, NodeId(1));
        let mut store = Storage::open(&dir, config()).expect("a fresh store opens");
        let entry = |i: u64| Entry::command(LogIndex(i), Term(1 + i / 4), Bytes::from(vec![i as u8; (i % 7) as usize]));
        let hs = |commit: u64| Some(HardState { term: Term(3), vote: Some(NodeId(2)), commit: LogIndex(commit) });
        let meta = SnapshotMeta {
            index: LogIndex(4),
            term: Term(2),
            membership: Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).expect("voters"),
        };
        let batches = vec![
            Persist {
                id: PersistId(1),
                entries: (1..=6).map(entry).collect(),
                hard_state: hs(3),
                ..Persist::default()
            },
            Persist {
                id: PersistId(2),
                truncate_from: Some(LogIndex(6)),
                entries: (6..=9).map(entry).collect(),
                ..Persist::default()
            },
            Persist {
                id: PersistId(3),
                snapshot: Some(Snapshot { meta, data: Bytes::from_static(b"state at 4") }),
                hard_state: hs(5),
                ..Persist::default()
            },
            Persist { id: PersistId(4), entries: (10..=12).map(entry).collect(), ..Persist::default() },
        ];
        futures::executor::block_on(store.persist(batches)).expect("the template is written");
        let recovered = futures::executor::block_on(store.load()).expect("the template loads");
        drop(store);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("template dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != "LOCK")
            .map(|name| {
                let bytes = std::fs::read(dir.join(&name)).expect("template file");
                (name, bytes)
            })
            .collect();
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        Template { files, recovered }
    })
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-fuzz-wal-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn open_and_load(dir: &Path) -> Result<Recovered, String> {
    let mut store = Storage::open(dir, StorageConfig::new(CLUSTER, NodeId(1))).map_err(|e| e.to_string())?;
    futures::executor::block_on(store.load()).map_err(|e| e.to_string())
}

/// The WAL recovery fuzz target.
///
/// # Panics
/// If recovery panics, or if undamaged files do not recover what was
/// written: both are findings.
pub fn wal_recovery(data: &[u8]) {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else { return };
    let t = template();
    let dir = scratch("case");
    let mut untouched = input.extra.is_none();
    for (k, (name, bytes)) in t.files.iter().enumerate() {
        let mut bytes = bytes.clone();
        let mut keep = true;
        for (_, d) in input.damage.iter().filter(|(f, _)| usize::from(*f) % t.files.len() == k) {
            untouched = false;
            match d {
                Damage::Truncate(at) => bytes.truncate(*at as usize % (bytes.len() + 1)),
                Damage::Flip(flips) => {
                    for (at, x) in flips {
                        if !bytes.is_empty() {
                            let i = *at as usize % bytes.len();
                            bytes[i] ^= x;
                        }
                    }
                }
                Damage::Replace(b) => bytes.clone_from(b),
                Damage::Remove => keep = false,
            }
        }
        if keep {
            std::fs::write(dir.join(name), &bytes).expect("case file");
        }
    }
    match &input.extra {
        Some(Extra::Segment(b)) => std::fs::write(dir.join("00000000000000000099.wal"), b),
        Some(Extra::Snapshot(b)) => std::fs::write(dir.join("00000000000000000042.snap"), b),
        Some(Extra::Temp(b)) => std::fs::write(dir.join("00000000000000000003.wal.tmp"), b),
        None => Ok(()),
    }
    .expect("extra file");
    let result = open_and_load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    if untouched {
        let got = result.expect("an undamaged store opens");
        assert_eq!(got, t.recovered, "an undamaged store recovers what was written");
    }
}
