//! Whether a node is healthy and ready, with the reasons when it is not:
//! what `/health` and `/ready` answer, from the node's own status.

use serde::Serialize;
use synod_core::id::NodeId;
use synod_core::replica::{Role, VoteResult};
use synod_core::time::{Duration, Instant};
use synod_net::node::NodeStatus;

/// A node may lag this many entries behind its commit index in applying
/// them and still take clients: a burst of writes is not an outage.
pub const READY_APPLY_LAG: u64 = 1000;

/// One node's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The node.
    pub node: u64,
    /// It knows a leader, its storage takes writes, and, if it leads, a
    /// quorum answered within an election timeout.
    pub healthy: bool,
    /// It can serve clients: it knows a leader (a leader: with a quorum
    /// behind it) and has applied nearly all it knows committed. Storage
    /// that refuses writes does not make it unready: reads go on.
    pub ready: bool,
    /// Why it is not healthy or not ready (empty when it is both).
    pub reasons: Vec<String>,
    /// Its role, if it answered.
    pub role: Option<String>,
    /// Its term, if it answered.
    pub term: Option<u64>,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Entries committed but not yet applied here.
    pub apply_lag: Option<u64>,
}

/// What a node reported about itself.
pub enum Observed<'a> {
    /// It stopped after a fatal error.
    Failed(&'a str),
    /// It did not answer its status (the reason).
    Silent(&'a str),
    /// Its status, taken at `now` on its runtime's clock.
    Status(&'a NodeStatus, Instant),
}

/// The verdict on node `id` from what it reported; a leader needs to have
/// heard from a quorum within `election_timeout`.
pub fn assess(id: NodeId, observed: Observed<'_>, election_timeout: Duration) -> Health {
    let mut h = Health {
        node: id.0,
        healthy: false,
        ready: false,
        reasons: Vec::new(),
        role: None,
        term: None,
        leader: None,
        apply_lag: None,
    };
    let (s, now) = match observed {
        Observed::Failed(why) => {
            h.reasons.push(format!("the node stopped: {why}"));
            return h;
        }
        Observed::Silent(why) => {
            h.reasons.push(format!("the node did not report its status: {why}"));
            return h;
        }
        Observed::Status(s, now) => (s, now),
    };
    let r = &s.replica;
    h.role = Some(format!("{:?}", r.role).to_lowercase());
    h.term = Some(r.term.0);
    h.leader = r.leader.map(|l| l.0);
    let lag = r.commit.0.saturating_sub(s.applied.0);
    h.apply_lag = Some(lag);
    let mut serving = true;
    if r.leader.is_none() {
        h.reasons.push("no leader known".into());
        serving = false;
    }
    if r.role == Role::Leader && !quorum_heard(s, now, election_timeout) {
        h.reasons.push(format!(
            "this leader has not heard from a quorum within the election timeout ({} ms)",
            election_timeout.as_millis()
        ));
        serving = false;
    }
    let mut writable = true;
    if let Some(alarm) = &s.disk.alarm {
        h.reasons.push(format!("writes refused: {alarm}"));
        writable = false;
    }
    let caught_up = lag <= READY_APPLY_LAG;
    if !caught_up {
        h.reasons.push(format!("{lag} committed entries not yet applied (ready at {READY_APPLY_LAG} or fewer)"));
    }
    h.healthy = serving && writable;
    h.ready = serving && caught_up;
    h
}

/// True if the leader heard from a quorum of its configuration (joint
/// ones included) within `window`; it counts itself.
fn quorum_heard(s: &NodeStatus, now: Instant, window: Duration) -> bool {
    let me = s.replica.id;
    let heard = |id: NodeId| {
        id == me
            || s.peers
                .iter()
                .any(|p| p.id == id && p.last_heard.is_some_and(|t| now.saturating_duration_since(t) < window))
    };
    s.replica.membership.vote_result(|id| Some(heard(id))) == VoteResult::Won
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::id::{LogIndex, Term};
    use synod_core::replica::{Membership, PeerStatus, Status};
    use synod_net::node::{DiskAlarm, DiskStatus};

    const ET: Duration = Duration::from_millis(500);

    fn status(role: Role, leader: Option<u64>, commit: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            replica: Status {
                id: NodeId(1),
                role,
                term: Term(3),
                leader: leader.map(NodeId),
                commit: LogIndex(commit),
                applied: LogIndex(applied),
                last_index: LogIndex(commit),
                persisted: LogIndex(commit),
                snapshot_index: LogIndex(0),
                membership: Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap(),
            },
            peers: Vec::new(),
            applied: LogIndex(applied),
            in_flight: 0,
            disk: DiskStatus::default(),
            counters: Default::default(),
            traffic: Vec::new(),
        }
    }

    fn peer(id: u64, last_heard: Option<Instant>) -> PeerStatus {
        PeerStatus { id: NodeId(id), match_index: LogIndex(0), next_index: LogIndex(1), last_heard, voter: true }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_follower_that_knows_its_leader_is_healthy_and_ready() {
        let s = status(Role::Follower, Some(2), 10, 10);
        let h = assess(NodeId(1), Observed::Status(&s, at(5000)), ET);
        assert!(h.healthy && h.ready, "{h:?}");
        assert!(h.reasons.is_empty());
        assert_eq!((h.role.as_deref(), h.term, h.leader), (Some("follower"), Some(3), Some(2)));
    }

    #[test]
    fn without_a_leader_a_node_is_neither() {
        let s = status(Role::Candidate, None, 10, 10);
        let h = assess(NodeId(1), Observed::Status(&s, at(5000)), ET);
        assert!(!h.healthy && !h.ready);
        assert_eq!(h.reasons, ["no leader known"]);
    }

    #[test]
    fn a_leader_needs_a_quorum_heard_within_the_election_timeout() {
        let mut s = status(Role::Leader, Some(1), 10, 10);
        s.peers = vec![peer(2, Some(at(4700))), peer(3, None)];
        assert!(assess(NodeId(1), Observed::Status(&s, at(5000)), ET).healthy, "itself and node 2 are a quorum");
        s.peers = vec![peer(2, Some(at(4400))), peer(3, Some(at(1000)))];
        let h = assess(NodeId(1), Observed::Status(&s, at(5000)), ET);
        assert!(!h.healthy && !h.ready);
        assert!(h.reasons[0].contains("quorum"), "{h:?}");
    }

    #[test]
    fn storage_that_refuses_writes_is_unhealthy_but_still_ready_for_reads() {
        let mut s = status(Role::Follower, Some(2), 10, 10);
        s.disk.alarm = Some(DiskAlarm::QuotaExceeded);
        let h = assess(NodeId(1), Observed::Status(&s, at(5000)), ET);
        assert!(!h.healthy && h.ready, "{h:?}");
        assert!(h.reasons[0].contains("quota"), "{h:?}");
    }

    #[test]
    fn a_node_far_behind_in_applying_is_healthy_but_not_ready() {
        let s = status(Role::Follower, Some(2), 5000, 10);
        let h = assess(NodeId(1), Observed::Status(&s, at(5000)), ET);
        assert!(h.healthy && !h.ready, "{h:?}");
        assert_eq!(h.apply_lag, Some(4990));
    }

    #[test]
    fn a_stopped_or_silent_node_is_neither_and_says_why() {
        let h = assess(NodeId(1), Observed::Failed("storage failed: EIO"), ET);
        assert!(!h.healthy && !h.ready);
        assert!(h.reasons[0].contains("EIO"));
        let h = assess(NodeId(1), Observed::Silent("no answer within 1 s"), ET);
        assert!(!h.healthy && !h.ready);
        assert!(h.reasons[0].contains("no answer"));
    }
}
