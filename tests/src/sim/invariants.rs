//! Safety properties checked after every step of a simulation.

use super::disk::{Stored, hash_bytes, mix};
use std::collections::HashMap;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{Entry, Replica};

/// A broken safety or liveness property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(property: &'static str, detail: String) -> Self {
        Violation { property, detail }
    }
}

/// What an entry holds, ballot aside.
fn value_hash(e: &Entry) -> u64 {
    hash_bytes(&e.data) ^ (e.kind as u64)
}

/// The global record the properties are checked against.
#[derive(Debug, Default)]
pub struct Invariants {
    /// Whether the protocol promises Raft's Log Matching property. When
    /// it does not (Multi-Paxos), a committed entry may be re-proposed
    /// under a later ballot, so entries are compared by value (kind and
    /// data) instead of by term.
    pub log_matching: bool,
    /// Election safety: the leader of each term.
    leaders: HashMap<Term, NodeId>,
    /// State-machine safety: what was applied at each index, and the
    /// highest term any node had when it was first applied.
    applied: HashMap<u64, (Term, u64, Term)>,
    /// Log Matching: the prefix hash of every (index, term) ever stored.
    prefixes: HashMap<(u64, u64), u64>,
    /// Snapshots taken: index → state hash.
    snapshots: HashMap<u64, u64>,
    /// Each node's durable log as prefix hashes: the index before the
    /// first, and one hash per entry (`None` while the base is unknown).
    chains: HashMap<NodeId, (u64, Option<Vec<u64>>)>,
}

impl Invariants {
    /// Election safety (Raft §5.2): at most one leader per term. For
    /// Multi-Paxos the term is a packed ballot, which must be the leader's
    /// own (PMS §2.5: ballots are partitioned among proposers).
    pub fn leader(&mut self, id: NodeId, term: Term) -> Result<(), Violation> {
        if !self.log_matching && synod_core::paxos::term_ballot(term).node != id {
            return Err(Violation::new("leaders own their ballot", format!("{id:?} leads in ballot {term:?}")));
        }
        match self.leaders.insert(term, id) {
            Some(other) if other != id => {
                Err(Violation::new("one leader per term", format!("{other:?} and {id:?} both led {term:?}")))
            }
            _ => Ok(()),
        }
    }

    /// Leader completeness (Raft §5.4): a new leader of `term` holds every
    /// entry committed in an earlier term. For Multi-Paxos, `term` is the
    /// leader's packed ballot and the new leader must hold every value
    /// chosen before it finished phase 1 (PMS §2.2 P2c), possibly
    /// re-proposed under its own ballot: values are compared, not terms.
    ///
    /// `stored` is the leader's durable log: a replica that keeps only a
    /// tail in memory holds its older entries there.
    pub fn new_leader(&self, id: NodeId, term: Term, r: &dyn Replica, stored: &[Entry]) -> Result<(), Violation> {
        let snapshot_index = r.status().snapshot_index;
        for (&index, &(entry_term, hash, committed_by)) in &self.applied {
            if committed_by >= term || index <= snapshot_index.0 {
                continue;
            }
            if self.log_matching {
                if r.entry_term(LogIndex(index)) != Some(entry_term) {
                    return Err(Violation::new(
                        "leader completeness",
                        format!(
                            "{id:?} leads {term:?} without entry {index} (term {entry_term:?}, committed by {committed_by:?}); holds {:?}",
                            r.entry_term(LogIndex(index))
                        ),
                    ));
                }
            } else {
                let held = r.entry(LogIndex(index)).or_else(|| {
                    let k = stored.partition_point(|e| e.index.0 < index);
                    // Only the entry the replica still knows the term of: a
                    // stored one it has since replaced is not held.
                    let known = r.entry_term(LogIndex(index));
                    stored.get(k).filter(|e| e.index.0 == index && Some(e.term) == known).cloned()
                });
                if held.as_ref().map(value_hash) != Some(hash) {
                    return Err(Violation::new(
                        "leader completeness",
                        format!(
                            "{id:?} leads {term:?} without the value chosen at {index} (committed by {committed_by:?}); holds {:?}",
                            held
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// State-machine safety (Raft §5.4.3): no two nodes apply different
    /// entries at one index (for Multi-Paxos: different values). `term` is
    /// the applying node's current term (ballot).
    pub fn applied(&mut self, node: NodeId, e: &Entry, term: Term) -> Result<(), Violation> {
        let h = value_hash(e);
        let same_term = |t: Term| !self.log_matching || t == e.term;
        match self.applied.get(&e.index.0) {
            Some(&(t, hash, _)) if !same_term(t) || hash != h => Err(Violation::new(
                "state-machine safety",
                format!("{node:?} applied ({:?}, {:?}) at {:?}, another applied term {t:?}", e.index, e.term, e.index),
            )),
            Some(_) => Ok(()),
            None => {
                self.applied.insert(e.index.0, (e.term, h, term));
                Ok(())
            }
        }
    }

    /// Log Matching (Raft §5.3): equal (index, term) means equal prefixes.
    /// Fed every change to a node's durable log.
    pub fn stored(&mut self, node: NodeId, change: &Stored) -> Result<(), Violation> {
        if !self.log_matching {
            return Ok(());
        }
        let (base, chain) = self.chains.entry(node).or_insert((0, Some(Vec::new())));
        match change {
            Stored::Snapshot(index, term) => {
                // The chain restarts at the snapshot's last entry, whose
                // prefix hash was recorded when some node stored it.
                if index.0 == 0 {
                    *base = 0;
                    *chain = Some(Vec::new());
                } else {
                    *base = index.0 - 1;
                    *chain = self.prefixes.get(&(index.0, term.0)).map(|h| vec![*h]);
                }
                Ok(())
            }
            Stored::Truncate(from) => {
                if let Some(c) = chain {
                    c.truncate(from.0.saturating_sub(*base + 1) as usize);
                }
                Ok(())
            }
            Stored::Entry(e) => {
                let Some(c) = chain else { return Ok(()) };
                if e.index.0 != *base + 1 + c.len() as u64 {
                    return Err(Violation::new(
                        "storage contract",
                        format!("{node:?} stored {:?} out of order", e.index),
                    ));
                }
                let prev = c.last().copied().unwrap_or(0);
                let h = mix(prev, mix(e.term.0, hash_bytes(&e.data) ^ e.kind as u64));
                c.push(h);
                match self.prefixes.insert((e.index.0, e.term.0), h) {
                    Some(p) if p != h => Err(Violation::new(
                        "log matching",
                        format!("{node:?} stored ({:?}, {:?}) after a different prefix", e.index, e.term),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }

    /// A node's disk lost its log: its chain starts again from nothing.
    pub fn lost_log(&mut self, node: NodeId) {
        self.chains.insert(node, (0, Some(Vec::new())));
    }

    /// Snapshots of one index hold one state.
    pub fn snapshot(&mut self, node: NodeId, index: LogIndex, state_hash: u64) -> Result<(), Violation> {
        match self.snapshots.insert(index.0, state_hash) {
            Some(h) if h != state_hash => Err(Violation::new(
                "snapshot agreement",
                format!("{node:?} holds a different state at snapshot index {index:?}"),
            )),
            _ => Ok(()),
        }
    }
}
