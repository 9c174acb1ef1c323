//! Reconfiguration: the configuration is part of the replicated state, as
//! in Lamport, Malkhi and Zhou, "Reconfiguring a State Machine" (SIGACT
//! News 2010, §4), with the window α = 1 and joint configurations as
//! Raft's (thesis §4.3), left automatically.
//!
//! - A configuration entry chosen at slot `k` governs every slot after
//!   `k`; slot `k` itself is decided by the configuration before it.
//! - **The barrier.** A leader sends slot `k` of a configuration only once
//!   every slot below it is chosen, and nothing after `k` until `k` is
//!   chosen. Entries proposed meanwhile wait in the leader's log. So no
//!   leader ever proposes a slot under a configuration that is not chosen,
//!   and at most one configuration a leader may have missed is outstanding.
//! - **Phase 1 across configurations.** A candidate knows the
//!   configuration chosen at its commit index, not the ones chosen above
//!   it. Walking the slots above its commit index with the values it
//!   recovers (the highest ballot per slot, PMS §2.2 P2c), each
//!   configuration entry met starts a new configuration, and the candidate
//!   wins only with a promise quorum of *every* configuration on that walk
//!   (the stop rule of Vertical Paxos, Lamport, Malkhi, Zhou, PODC 2009,
//!   applied per slot range). Prepares go to the voters of each
//!   configuration as it is discovered.
//! - **Joint, though not for safety.** A leader commits a slot only once a
//!   majority holds every slot up to it in its ballot, so a configuration
//!   it did not see (proposed, never chosen) is overwritten at a majority
//!   before anything after it is decided, and every later leader recovers
//!   the same configurations: with the barrier, going straight from old
//!   to new is safe here (the skip-the-joint-phase canary finds nothing,
//!   RELIABILITY.md). Changes still pass through the joint configuration,
//!   so both protocols take the same steps and the node machine answers a
//!   step at the same point (the joint phase left).
//!
//! Acceptors apply a configuration when they learn its slot chosen, and
//! keep the chosen ones above their snapshot so a snapshot records the
//! configuration in force at its own index.

use super::MultiPaxos;
use crate::id::{LogIndex, NodeId};
use crate::paxos::MAX_NODES;
use crate::replica::{
    Entry, EntryKind, Event, Membership, MembershipChange, MessageError, Proposal, ProposeError, Role,
};
use alloc::vec::Vec;

/// Decodes a configuration entry's value; a member id that cannot be
/// packed into a ballot is refused as malformed.
pub(super) fn decode_config(e: &Entry) -> Result<Membership, MessageError> {
    let m = Membership::decode_exact(&e.data).map_err(|_| MessageError::Malformed("undecodable configuration"))?;
    if m.members().any(|id| id.0 >= MAX_NODES) {
        return Err(MessageError::Malformed("configuration names a node id above 65,535"));
    }
    Ok(m)
}

/// Checks every configuration entry among `entries`.
pub(super) fn check_configs<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<(), MessageError> {
    for e in entries.into_iter().filter(|e| e.kind == EntryKind::Membership) {
        decode_config(e)?;
    }
    Ok(())
}

impl MultiPaxos {
    pub(super) fn propose_membership(&mut self, change: MembershipChange) -> Result<Proposal, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader_hint: self.leader });
        }
        // One change at a time: the previous one chosen and, if joint, left.
        if self.membership.is_joint() || !self.pending.is_empty() {
            return Err(ProposeError::MembershipChangePending);
        }
        let next = self.membership.enter_joint(&change).map_err(|_| ProposeError::InvalidMembership)?;
        #[cfg(feature = "canary")]
        let next = if self.skip_joint { next.leave_joint() } else { next };
        if next.is_empty() || next.members().any(|id| id.0 >= MAX_NODES) {
            return Err(ProposeError::InvalidMembership);
        }
        let p = self.propose_entry(EntryKind::Membership, next.encode())?;
        self.pending.push((p.index, next));
        self.sync_peers();
        Ok(p)
    }

    /// Plants the simulator's canary: changes go straight to the new
    /// configuration, skipping the joint phase, which the simulator must
    /// catch. Exists only with the `canary` feature.
    #[cfg(feature = "canary")]
    pub fn plant_joint_skip(&mut self) {
        self.skip_joint = true;
    }

    /// Plants the simulator's canary: a candidate counts promises in the
    /// configuration chosen at its commit index only, ignoring those it
    /// finds among the recovered values — so a candidate that missed a
    /// change is elected by the old voters alone. Exists only with the
    /// `canary` feature.
    #[cfg(feature = "canary")]
    pub fn plant_one_config_phase1(&mut self) {
        self.one_config_phase1 = true;
    }

    /// The configuration in force at `index` (at or below the commit
    /// index): what a snapshot taken there records.
    pub(super) fn membership_at(&self, index: LogIndex) -> &Membership {
        self.configs.iter().rev().find(|(i, _)| *i <= index).map_or(&self.log.snapshot.meta.membership, |(_, m)| m)
    }

    /// The last slot the leader may send: the barrier before and after an
    /// unchosen configuration entry (module docs).
    pub(super) fn send_limit(&self) -> LogIndex {
        match self.pending.first() {
            Some((k, _)) if self.log.commit.next() == *k => *k,
            Some((k, _)) => k.prev(),
            None => self.log.last_index(),
        }
    }

    /// The commit index a quorum supports, slot range by slot range: each
    /// pending configuration entry is decided by the configuration before
    /// it, and the slots after it by itself.
    pub(super) fn quorum_commit(&self, acked: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        let mut commit = self.log.commit;
        let mut cfg = &self.membership;
        for (k, next) in &self.pending {
            let q = cfg.committed_index(&acked).min(*k);
            commit = commit.max(q);
            if q < *k {
                return commit;
            }
            cfg = next;
        }
        commit.max(cfg.committed_index(&acked).min(self.log.last_index()))
    }

    /// Applies the configuration entries among newly chosen slots
    /// `(from, self.log.commit]`.
    pub(super) fn learn_configs(&mut self, from: LogIndex) {
        let commit = self.log.commit;
        let chosen: Vec<(LogIndex, Membership)> = self
            .log
            .range(from.next(), commit)
            .filter(|e| e.kind == EntryKind::Membership)
            .filter_map(|e| decode_config(e).ok().map(|m| (e.index, m)))
            .collect();
        self.pending.retain(|(k, _)| *k > commit);
        let Some((_, last)) = chosen.last() else { return };
        // A restart must find this configuration chosen: write the commit
        // index now rather than with whatever write comes next.
        self.durability.force_write();
        self.membership = last.clone();
        self.configs.extend(chosen);
        self.membership_changed();
    }

    /// Tells the caller, and takes up the role the new configuration gives.
    pub(super) fn membership_changed(&mut self) {
        self.outbox.events.push(Event::MembershipChanged(self.membership.clone()));
        match self.role {
            Role::Leader => self.on_config_chosen(),
            Role::Candidate if !self.membership.is_voter(self.id) => self.step_down(),
            Role::Follower | Role::Learner => {
                let role = self.follower_role();
                if role != self.role {
                    self.role = role;
                    self.reset_election_deadline();
                    self.emit_role();
                }
            }
            _ => {}
        }
    }

    /// Leader: a configuration was chosen. Leave a joint one at once
    /// (thesis §4.3); step down once a configuration without us as a voter
    /// is chosen (thesis §4.2.2).
    pub(super) fn on_config_chosen(&mut self) {
        if !self.pending.is_empty() {
            self.sync_peers();
            return;
        }
        if self.membership.is_joint() {
            let next = self.membership.leave_joint();
            let index = self.append_entry(EntryKind::Membership, next.encode());
            self.pending.push((index, next));
        } else if !self.membership.is_voter(self.id) {
            self.step_down();
            return;
        }
        self.sync_peers();
    }

    /// Leader: one progress per member of the chosen and pending
    /// configurations, keeping what is known of existing ones.
    pub(super) fn sync_peers(&mut self) {
        let mut ids: Vec<(NodeId, bool)> = Vec::new();
        for m in core::iter::once(&self.membership).chain(self.pending.iter().map(|(_, m)| m)) {
            for id in m.members().filter(|id| *id != self.id) {
                let voter = m.is_voter(id);
                match ids.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, v)) => *v |= voter,
                    None => ids.push((id, voter)),
                }
            }
        }
        self.peers.retain(|p| ids.iter().any(|(i, _)| *i == p.id));
        let next = self.log.commit.next();
        let inflight = self.cfg.max_inflight_batches;
        for (id, voter) in ids {
            match self.peers.iter_mut().find(|p| p.id == id) {
                Some(p) => p.voter = voter,
                None => self.peers.push(super::progress::Progress::new(id, voter, next, inflight)),
            }
        }
    }

    /// Configurations a candidate needs a promise quorum of: the one chosen
    /// at its commit index, then one per configuration entry among the
    /// highest-ballot values recovered so far, in slot order.
    pub(super) fn campaign_configs<'a>(&'a self, recovered: impl Iterator<Item = &'a Entry>) -> Vec<Membership> {
        let mut out = alloc::vec![self.membership.clone()];
        #[cfg(feature = "canary")]
        if self.one_config_phase1 {
            return out;
        }
        out.extend(recovered.filter(|e| e.kind == EntryKind::Membership).filter_map(|e| decode_config(e).ok()));
        out
    }
}
