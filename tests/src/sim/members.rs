//! Membership changes as faults: the leader's node machine is asked to
//! add a spare as a learner, promote a learner, or remove a voter, as an
//! operator would with `synod member` — under every other fault.

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
        let step = if let Some(learner) = m.learners().first().copied().filter(|_| self.rng.chance(0.7)) {
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
