//! The methods of [`Replica`](super::Replica) that Raft and Multi-Paxos
//! implement alike, written once: each protocol's `impl Replica` invokes
//! [`replica_methods!`] and adds only what differs between them — which
//! messages it takes, its timers and its status.
//!
//! A macro rather than a blanket impl over a trait of accessors: the
//! machines keep this state in fields of their own (the log is each
//! protocol's view of the shared `StableLog`), and these bodies read and
//! call them directly. What a protocol must have for it: the fields `id`,
//! `now`, `role`, `log`, `durability`, `outbox` and `peers`, and the
//! methods `propose_entry`, `start_read`, `tick_leader`, `tick_election`,
//! `flush_leader`, `leader_has_work`, `hard_state`, `maybe_commit`,
//! `take_snapshot`, `propose_membership` and `start_transfer`.

macro_rules! replica_methods {
    () => {
        fn id(&self) -> $crate::id::NodeId {
            self.id
        }

        fn propose(
            &mut self,
            now: $crate::time::Instant,
            data: bytes::Bytes,
        ) -> Result<$crate::replica::Proposal, $crate::replica::ProposeError> {
            self.now = now;
            self.propose_entry($crate::replica::EntryKind::Command, data)
        }

        fn read(
            &mut self,
            now: $crate::time::Instant,
            id: $crate::replica::ReadId,
        ) -> Result<(), $crate::replica::ReadError> {
            self.now = now;
            self.start_read(id)
        }

        fn handle_timeout(&mut self, now: $crate::time::Instant) {
            self.now = now;
            if self.role == $crate::replica::Role::Leader {
                self.tick_leader();
            } else {
                self.tick_election();
            }
        }

        fn poll_output(&mut self, out: &mut $crate::replica::Output) {
            if self.role == $crate::replica::Role::Leader {
                self.flush_leader();
            }
            let hs = self.hard_state();
            self.outbox.drain(&mut self.log, &mut self.durability, hs, out);
        }

        // Derived from the code `poll_output` runs: the outbox's tail and
        // the leader's per-peer decisions (`leader_has_work`).
        fn has_output(&self) -> bool {
            self.outbox.has_output(&self.log, &self.durability, self.hard_state())
                || (self.role == $crate::replica::Role::Leader && self.leader_has_work())
        }

        fn handle_persisted(&mut self, now: $crate::time::Instant, id: $crate::replica::PersistId) {
            self.now = now;
            if !self.durability.persisted(id) {
                return;
            }
            self.log.persisted_up_to(self.durability.acked());
            if self.role == $crate::replica::Role::Leader {
                // A leader counts its own copy only once durable (Raft
                // thesis §10.2.1; a Multi-Paxos leader's own acceptance alike).
                self.maybe_commit();
            }
        }

        fn compact(
            &mut self,
            now: $crate::time::Instant,
            index: $crate::id::LogIndex,
            data: bytes::Bytes,
        ) -> Result<(), $crate::replica::CompactError> {
            self.now = now;
            self.take_snapshot(index, data)
        }

        fn change_membership(
            &mut self,
            now: $crate::time::Instant,
            change: $crate::replica::MembershipChange,
        ) -> Result<$crate::replica::Proposal, $crate::replica::ProposeError> {
            self.now = now;
            self.propose_membership(change)
        }

        fn transfer_leader(
            &mut self,
            now: $crate::time::Instant,
            to: $crate::id::NodeId,
        ) -> Result<(), $crate::replica::TransferError> {
            self.now = now;
            self.start_transfer(to)
        }

        fn peer_status(&self, out: &mut alloc::vec::Vec<$crate::replica::PeerStatus>) {
            out.extend(self.peers.iter().map($crate::replica::progress::Progress::status));
        }

        fn entry_term(&self, index: $crate::id::LogIndex) -> Option<$crate::id::Term> {
            self.log.term(index)
        }

        fn entry(&self, index: $crate::id::LogIndex) -> Option<$crate::replica::Entry> {
            self.log.entry(index).cloned()
        }
    };
}

pub(crate) use replica_methods;
