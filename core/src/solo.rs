//! A one-node replicated log: it commits whatever it has made durable.
//!
//! Useful on its own (a single-node deployment, development, embedded
//! devices with one controller) and as the smallest honest implementation
//! of [`Replica`]. Each start is a new term, so a proposal that was lost in
//! a crash can never be mistaken for a later one at the same index.

use crate::id::{LogIndex, NodeId, Term};
use crate::replica::log::StableLog;
use crate::replica::{
    CompactError, Entry, EntryKind, Event, HardState, LogRead, LogReadError, LogReadFailed, Membership,
    MembershipChange, Message, MessageError, Output, PeerStatus, Persist, PersistId, Proposal, ProposeError, ReadError,
    ReadId, ReadState, RecoverError, Recovered, Replica, Role, Snapshot, SnapshotMeta, Status, TransferError,
};
use crate::time::Instant;
use alloc::vec::Vec;
use bytes::Bytes;

/// A single-node log. See [`Replica`] for the call order.
#[derive(Debug)]
pub struct Solo {
    id: NodeId,
    term: Term,
    membership: Membership,
    /// The log Raft and Multi-Paxos keep too; here every durable entry is
    /// committed at once: there is no one else to ask.
    log: StableLog,
    /// The hard state still has to be written.
    hard_state_dirty: bool,
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
        let restore = (snapshot.meta.index > LogIndex(0)).then(|| snapshot.clone());
        let membership = snapshot.meta.membership.clone();
        // Everything recovered is durable, so committed.
        let log = StableLog::recovered(snapshot, entries, LogIndex(u64::MAX));
        let term = hard_state.term.max(log.last_term()).next();
        let events = alloc::vec![Event::RoleChanged { role: Role::Leader, term, leader: Some(id) }];
        Ok(Solo {
            id,
            term,
            membership,
            log,
            hard_state_dirty: true,
            next_persist: 1,
            restore,
            reads: Vec::new(),
            events,
        })
    }
}

impl Replica for Solo {
    fn id(&self) -> NodeId {
        self.id
    }

    fn propose(&mut self, _now: Instant, data: Bytes) -> Result<Proposal, ProposeError> {
        let index = self.log.last_index().next();
        self.log.push(Entry { index, term: self.term, kind: EntryKind::Command, data });
        Ok(Proposal { index, term: self.term })
    }

    fn read(&mut self, _now: Instant, id: ReadId) -> Result<(), ReadError> {
        // Alone, this node is always the leader: everything acknowledged
        // is at or below the durable (= committed) index.
        self.reads.push(ReadState { id, result: Ok(self.log.persisted) });
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
        if self.hard_state_dirty || self.log.has_unstable() {
            let id = PersistId(self.next_persist);
            self.next_persist += 1;
            let mut p = Persist { id, ..Persist::default() };
            self.log.take_unstable(id, &mut p);
            if self.hard_state_dirty {
                p.hard_state = Some(HardState { term: self.term, vote: Some(self.id), commit: self.log.persisted });
                self.hard_state_dirty = false;
            }
            match &mut out.persist {
                Some(existing) => existing.merge(p),
                slot => *slot = Some(p),
            }
        }
        if let Some(s) = self.restore.take() {
            out.committed.clear();
            out.restore = Some(s);
        }
        self.log.take_committed(&mut out.committed);
        out.reads.append(&mut self.reads);
        out.events.append(&mut self.events);
    }

    fn has_output(&self) -> bool {
        self.hard_state_dirty
            || self.log.has_unstable()
            || self.restore.is_some()
            || self.log.has_committed()
            || !self.reads.is_empty()
            || !self.events.is_empty()
    }

    fn handle_persisted(&mut self, _now: Instant, id: PersistId) {
        self.log.persisted_up_to(id);
        self.log.commit = self.log.persisted;
    }

    /// A one-node log has no peer to read entries back for: it never asks,
    /// so every answer is one that no longer fits, and is dropped.
    fn handle_log_read(
        &mut self,
        _now: Instant,
        _read: LogRead,
        _result: Result<Vec<Entry>, LogReadFailed>,
    ) -> Result<(), LogReadError> {
        Ok(())
    }

    fn compact(&mut self, _now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        let term = self.log.compactable(index)?;
        // Storage learns of it with the next batch.
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, membership: self.membership.clone() }, data });
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
            commit: self.log.commit,
            applied: self.log.applied,
            last_index: self.log.last_index(),
            persisted: self.log.persisted,
            snapshot_index: self.log.snapshot.meta.index,
            membership: self.membership.clone(),
        }
    }

    fn peer_status(&self, _out: &mut Vec<PeerStatus>) {}

    fn entry_term(&self, index: LogIndex) -> Option<Term> {
        self.log.term(index)
    }
}
