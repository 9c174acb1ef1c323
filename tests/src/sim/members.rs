//! Membership changes as faults: the leader's node machine is asked to
//! add a spare as a learner, promote a learner, swap a voter for a
//! learner, or remove a voter, as an operator would with `synod member` —
//! under every other fault.

use super::world::World;
use synod_core::replica::MemberStep;
use synod_net::client::RequestOp;
use synod_net::node::Ticket;

/// Tickets of steps nobody waits on (the world ignores their answers).
const UNWATCHED: u64 = u64::MAX / 2;

impl World {
    pub(super) fn member_step(&mut self) {
        let Some(l) = self.leader() else { return };
        let m = self.nodes[l].machine.replica().status().membership;
        if m.is_joint() {
            return;
        }
        let spare = (0..self.nodes.len()).find(|i| {
            let id = self.nodes[*i].id;
            !m.contains(id) && !self.removed.contains(&id) && !self.nodes[*i].wiped
        });
        let learner = m.learners().first().copied();
        let step = if let Some(new) = learner.filter(|_| self.rng.chance(0.35)) {
            // A voter swapped for the learner in one joint change: the
            // old and new voters have disjoint majorities, which only the
            // joint phase keeps from deciding apart.
            let old = m.voters()[self.rng.below(m.voters().len() as u64) as usize];
            self.removed.push(old);
            self.stats.member_replacements += 1;
            MemberStep::Replace { old, new }
        } else if let Some(learner) = learner.filter(|_| self.rng.chance(0.55)) {
            MemberStep::Promote { id: learner }
        } else if let Some(i) = spare.filter(|_| self.rng.chance(0.6)) {
            let id = self.nodes[i].id;
            MemberStep::AddLearner { id, address: bytes::Bytes::from(format!("sim-{}", id.0)) }
        } else if m.voters().len() > 3 {
            // Any voter, the leader included (it steps down once the change
            // commits, thesis §4.2.2).
            let id = m.voters()[self.rng.below(m.voters().len() as u64) as usize];
            self.removed.push(id);
            MemberStep::Remove { id }
        } else {
            return;
        };
        self.stats.member_steps += 1;
        let s = format!("{step:?}");
        self.trace.log(self.now, || format!("membership step at the leader: {s}"));
        let now = self.local(l);
        let ticket = Ticket(UNWATCHED + self.stats.member_steps);
        self.nodes[l].machine.handle_request(now, ticket, RequestOp::Member(step));
        self.drain(l);
    }
}
