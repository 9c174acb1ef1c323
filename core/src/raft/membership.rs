//! Membership changes by joint consensus with automatic leave (thesis
//! §4.3), and learners (§4.2.1). A configuration takes effect as soon as
//! its entry is appended (§4.1) and is undone if the entry is truncated.

use super::Raft;
use crate::id::LogIndex;
use crate::replica::{EntryKind, Event, Membership, MembershipChange, Proposal, ProposeError, Role};

impl Raft {
    pub(super) fn propose_membership(&mut self, change: MembershipChange) -> Result<Proposal, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader_hint: self.leader });
        }
        // One change at a time: the previous one must be committed and, if
        // joint, left.
        if self.membership().is_joint() || self.pending_conf_index > self.log.commit {
            return Err(ProposeError::MembershipChangePending);
        }
        let next = self.membership().enter_joint(&change).map_err(|_| ProposeError::InvalidMembership)?;
        #[cfg(feature = "canary")]
        let next = if self.skip_joint { next.leave_joint() } else { next };
        let data = next.encode();
        let p = self.propose_entry(EntryKind::Membership, data)?;
        self.pending_conf_index = p.index;
        self.on_config_appended(p.index, next);
        Ok(p)
    }

    /// Plants the simulator's canary: changes go straight to the new
    /// configuration, skipping the joint phase — unsafe whenever the old
    /// and the new voters have disjoint majorities (thesis §4.3), which
    /// the simulator must catch. Exists only with the `canary` feature.
    #[cfg(feature = "canary")]
    pub fn plant_joint_skip(&mut self) {
        self.skip_joint = true;
    }

    pub(super) fn on_config_appended(&mut self, index: LogIndex, m: Membership) {
        self.configs.push_back((index, m));
        self.apply_membership();
    }

    /// Drops log entries from `from` on, undoing configurations among them.
    pub(super) fn truncate_log(&mut self, from: LogIndex) {
        self.log.truncate_from(from);
        let before = self.configs.len();
        while self.configs.back().is_some_and(|(i, _)| *i >= from) {
            self.configs.pop_back();
        }
        if self.configs.len() != before {
            self.apply_membership();
        }
    }

    pub(super) fn apply_membership(&mut self) {
        self.outbox.events.push(Event::MembershipChanged(self.membership().clone()));
        match self.role {
            Role::Leader => self.sync_peers(),
            Role::Follower | Role::Learner => {
                self.role = self.follower_role();
                self.emit_role();
            }
            Role::Candidate | Role::PreCandidate => {
                if !self.membership().is_voter(self.id) {
                    let term = self.term;
                    self.become_follower(term, None);
                }
            }
        }
    }

    /// Leader bookkeeping once the commit index moved.
    pub(super) fn on_commit_advanced(&mut self) {
        let commit = self.log.commit;
        let Some((index, m)) = self.configs.back() else { return };
        if *index > commit {
            return;
        }
        if m.is_joint() {
            if self.pending_conf_index <= commit {
                // Thesis §4.3: the joint configuration is committed; move to
                // the new one without waiting to be asked.
                let next = m.leave_joint();
                let p = self.append_entry(EntryKind::Membership, next.encode());
                self.pending_conf_index = p.index;
                self.on_config_appended(p.index, next);
            }
        } else if !m.is_voter(self.id) {
            // Thesis §4.2.2: a leader outside the committed configuration
            // steps down.
            let term = self.term;
            self.become_follower(term, None);
        }
    }
}
