//! A one-node replicated log: it commits whatever it has made durable.
//!
//! Useful on its own (a single-node deployment, development, embedded
//! devices with one controller) and as the smallest honest implementation
//! of [`Replica`]. Each start is a new term, so a proposal that was lost in
//! a crash can never be mistaken for a later one at the same index.

use crate::id::{LogIndex, NodeId, Term};
use crate::replica::{
    CompactError, Entry, EntryKind, Event, HardState, Membership, MembershipChange, Message, MessageError, Output,
    PeerStatus, Persist, PersistId, Proposal, ProposeError, ReadError, ReadId, ReadState, RecoverError, Recovered,
    Replica, Role, Snapshot, SnapshotMeta, Status, TransferError,
};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

/// A single-node log. See [`Replica`] for the call order.
#[derive(Debug)]
pub struct Solo {
    id: NodeId,
    term: Term,
    membership: Membership,
    snapshot: Snapshot,
    entries: VecDeque<Entry>,
    /// Every durable entry is committed: there is no one else to ask.
    persisted: LogIndex,
    applied: LogIndex,
    /// First index not yet handed out for writing.
    unwritten: LogIndex,
    /// The hard state still has to be written.
    hard_state_dirty: bool,
    /// The snapshot still has to be written.
    snapshot_unwritten: bool,
    /// Batches handed out, with their last index.
    batches: VecDeque<(PersistId, LogIndex)>,
    next_persist: u64,
    restore: Option<Snapshot>,
    reads: Vec<ReadState>,
    events: Vec<Event>,
}

impl Solo {
    /// Rebuilds the log from storage and starts a new term.
    pub fn new(id: NodeId, recovered: Recovered) -> Result<Solo, RecoverError> {
        let Recovered { hard_state, snapshot, entries } = recovered;
        let snapshot = snapshot.unwrap_or_else(|| Snapshot {
            meta: SnapshotMeta {
                membership: Membership::voters_only([id]).unwrap_or_default(),
                ..SnapshotMeta::default()
            },
            data: Bytes::new(),
        });
        crate::replica::check_recovered(&snapshot.meta, &entries, true)?;
        let entries_kept: VecDeque<Entry> = entries.into_iter().filter(|e| e.index > snapshot.meta.index).collect();
        let last_term = entries_kept.back().map_or(snapshot.meta.term, |e| e.term);
        let last = entries_kept.back().map_or(snapshot.meta.index, |e| e.index);
        let term = hard_state.term.max(last_term).next();
        let restore = (snapshot.meta.index > LogIndex(0)).then(|| snapshot.clone());
        let applied = snapshot.meta.index;
        let membership = snapshot.meta.membership.clone();
        let events = alloc::vec![Event::RoleChanged { role: Role::Leader, term, leader: Some(id) }];
        Ok(Solo {
            id,
            term,
            membership,
            snapshot,
            entries: entries_kept,
            persisted: last,
            applied,
            unwritten: last.next(),
            hard_state_dirty: true,
            snapshot_unwritten: false,
            batches: VecDeque::new(),
            next_persist: 1,
            restore,
            reads: Vec::new(),
            events,
        })
    }

    fn last_index(&self) -> LogIndex {
        self.entries.back().map_or(self.snapshot.meta.index, |e| e.index)
    }

    fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let first = self.snapshot.meta.index.next();
        if index < first {
            return None;
        }
        self.entries.get((index.0 - first.0) as usize)
    }
}

impl Replica for Solo {
    fn id(&self) -> NodeId {
        self.id
    }

    fn propose(&mut self, _now: Instant, data: Bytes) -> Result<Proposal, ProposeError> {
        let index = self.last_index().next();
        self.entries.push_back(Entry { index, term: self.term, kind: EntryKind::Command, data });
        Ok(Proposal { index, term: self.term })
    }

    fn read(&mut self, _now: Instant, id: ReadId) -> Result<(), ReadError> {
        // Alone, this node is always the leader: everything acknowledged
        // is at or below the durable (= committed) index.
        self.reads.push(ReadState { id, result: Ok(self.persisted) });
        Ok(())
    }

    fn handle_message(&mut self, _now: Instant, _from: NodeId, _msg: Message) -> Result<(), MessageError> {
        Err(MessageError::WrongProtocol)
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn poll_output(&mut self, out: &mut Output) {
        let last = self.last_index();
        if self.hard_state_dirty || self.snapshot_unwritten || self.unwritten <= last {
            let id = PersistId(self.next_persist);
            self.next_persist += 1;
            let mut p = Persist { id, ..Persist::default() };
            if self.snapshot_unwritten {
                p.snapshot = Some(self.snapshot.clone());
                self.snapshot_unwritten = false;
            }
            let first = self.snapshot.meta.index.next();
            let from = self.unwritten.0.saturating_sub(first.0) as usize;
            p.entries.extend(self.entries.range(from..).cloned());
            if self.hard_state_dirty {
                p.hard_state = Some(HardState { term: self.term, vote: Some(self.id), commit: self.persisted });
                self.hard_state_dirty = false;
            }
            self.unwritten = last.next();
            self.batches.push_back((id, last));
            match &mut out.persist {
                Some(existing) => existing.merge(p),
                slot => *slot = Some(p),
            }
        }
        if let Some(s) = self.restore.take() {
            out.committed.clear();
            out.restore = Some(s);
        }
        while self.applied < self.persisted {
            self.applied = self.applied.next();
            if let Some(e) = self.entry(self.applied) {
                out.committed.push(e.clone());
            }
        }
        out.reads.append(&mut self.reads);
        out.events.append(&mut self.events);
    }

    fn has_output(&self) -> bool {
        self.hard_state_dirty
            || self.snapshot_unwritten
            || self.unwritten <= self.last_index()
            || self.restore.is_some()
            || self.applied < self.persisted
            || !self.reads.is_empty()
            || !self.events.is_empty()
    }

    fn handle_persisted(&mut self, _now: Instant, id: PersistId) {
        while let Some(&(bid, last)) = self.batches.front() {
            if bid > id {
                break;
            }
            self.batches.pop_front();
            self.persisted = self.persisted.max(last);
        }
    }

    fn compact(&mut self, _now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        let existing = self.snapshot.meta.index;
        if index <= existing {
            return Err(CompactError::AlreadyCompacted { index, existing });
        }
        if index > self.applied {
            return Err(CompactError::NotApplied { index, applied: self.applied });
        }
        let term = self.entry(index).map_or(self.term, |e| e.term);
        let drop = (index.0 - existing.0) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = Snapshot { meta: SnapshotMeta { index, term, membership: self.membership.clone() }, data };
        // Storage learns of it with the next batch.
        self.snapshot_unwritten = true;
        Ok(())
    }

    fn change_membership(&mut self, _now: Instant, _change: MembershipChange) -> Result<Proposal, ProposeError> {
        Err(ProposeError::Unsupported)
    }

    fn transfer_leader(&mut self, _now: Instant, to: NodeId) -> Result<(), TransferError> {
        if to == self.id { Err(TransferError::AlreadyLeader) } else { Err(TransferError::NotVoter(to)) }
    }

    fn status(&self) -> Status {
        Status {
            id: self.id,
            role: Role::Leader,
            term: self.term,
            leader: Some(self.id),
            commit: self.persisted,
            applied: self.applied,
            last_index: self.last_index(),
            persisted: self.persisted,
            snapshot_index: self.snapshot.meta.index,
            membership: self.membership.clone(),
        }
    }

    fn peer_status(&self, _out: &mut Vec<PeerStatus>) {}

    fn entry_term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.meta.index {
            return Some(self.snapshot.meta.term);
        }
        self.entry(index).map(|e| e.term)
    }
}
