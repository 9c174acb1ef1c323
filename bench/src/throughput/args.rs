//! Command-line options shared by the core benchmark binaries.

use super::Workload;

/// An implementation under test, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// synod's Raft.
    SynodRaft,
    /// synod's Multi-Paxos.
    SynodMultiPaxos,
    /// raft-rs.
    RaftRs,
    /// OmniPaxos with log batches of this many entries.
    Omni(usize),
}

impl Implementation {
    /// The name printed in results.
    pub fn name(&self) -> String {
        match self {
            Implementation::SynodRaft => "synod-raft".into(),
            Implementation::SynodMultiPaxos => "synod-multi-paxos".into(),
            Implementation::RaftRs => "raft-rs".into(),
            Implementation::Omni(b) => format!("omnipaxos-batch{b}"),
        }
    }

    /// Parses a name as printed by [`Implementation::name`].
    pub fn parse(s: &str) -> Option<Implementation> {
        match s {
            "synod-raft" => Some(Implementation::SynodRaft),
            "synod-multi-paxos" => Some(Implementation::SynodMultiPaxos),
            "raft-rs" => Some(Implementation::RaftRs),
            _ => s.strip_prefix("omnipaxos-batch")?.parse().ok().map(Implementation::Omni),
        }
    }
}

/// Parsed options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The workload.
    pub workload: Workload,
    /// Implementations to run, in order.
    pub implementations: Vec<Implementation>,
    /// Times each implementation runs (alternating), for a median.
    pub rounds: usize,
}

/// Parses `--replicas --payload --entries --window --only --omni-batch --rounds`.
pub fn parse(args: impl Iterator<Item = String>, default_entries: u64) -> Result<Options, String> {
    let mut w = Workload { replicas: 3, payload: 128, entries: default_entries, window: 1024 };
    let mut only: Option<Vec<Implementation>> = None;
    let mut batches = vec![1, 64];
    let mut rounds = 1;
    let mut args = args.skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--replicas" => w.replicas = num()?,
            "--payload" => w.payload = num()? as usize,
            "--entries" => w.entries = num()?,
            "--window" => w.window = num()?,
            "--rounds" => rounds = num()? as usize,
            "--omni-batch" => {
                batches = value
                    .split(',')
                    .map(|b| b.parse::<usize>().map_err(|e| format!("{b}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--only" => {
                only = Some(
                    value
                        .split(',')
                        .map(|n| Implementation::parse(n).ok_or_else(|| format!("unknown implementation {n}")))
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if w.replicas < 2 || w.payload == 0 || w.window == 0 || rounds == 0 {
        return Err("need at least 2 replicas and a non-zero payload, window and round count".into());
    }
    let implementations = only.unwrap_or_else(|| {
        let mut v = vec![Implementation::SynodRaft, Implementation::SynodMultiPaxos, Implementation::RaftRs];
        v.extend(batches.iter().map(|b| Implementation::Omni(*b)));
        v
    });
    Ok(Options { workload: w, implementations, rounds })
}
