//! Raft's messages (Raft Figure 2, thesis chapters 3–6).

use crate::id::{LogIndex, Term};
use crate::replica::Entry;
pub use crate::replica::{SnapshotChunk, SnapshotResponse};
use alloc::vec::Vec;

/// A Raft message: the sender's term and what it says.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender's term; for a pre-vote request, the term it would campaign in.
    pub term: Term,
    /// The content.
    pub body: Body,
}

/// The content of a Raft message.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// RequestVote (Raft §5.2), or a pre-vote (thesis §9.6).
    Vote(VoteRequest),
    /// The answer to a [`Body::Vote`].
    VoteResponse(VoteResponse),
    /// AppendEntries (Raft §5.3).
    Append(Append),
    /// The answer to a [`Body::Append`].
    AppendResponse(AppendResponse),
    /// A leader's liveness and commit signal, carrying a read round number
    /// (thesis §6.4).
    Heartbeat(Heartbeat),
    /// The answer to a [`Body::Heartbeat`].
    HeartbeatResponse(HeartbeatResponse),
    /// One chunk of InstallSnapshot (Raft §7).
    Snapshot(SnapshotChunk),
    /// The answer to a [`Body::Snapshot`] chunk.
    SnapshotResponse(SnapshotResponse),
    /// Start an election now: leadership transfer (thesis §3.10).
    TimeoutNow,
}

/// RequestVote arguments.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteRequest {
    /// A pre-vote: asks without changing anyone's term.
    pub pre_vote: bool,
    /// Sent on a leader's request (TimeoutNow): overrides the follower's
    /// "heard from a leader recently" refusal.
    pub transfer: bool,
    /// Index of the candidate's last entry.
    pub last_index: LogIndex,
    /// Term of the candidate's last entry.
    pub last_term: Term,
}

/// RequestVote result.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteResponse {
    /// Answers a pre-vote.
    pub pre_vote: bool,
    /// True if the vote was granted.
    pub granted: bool,
}

/// AppendEntries arguments.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// Index of the entry just before `entries`.
    pub prev_index: LogIndex,
    /// Term of that entry.
    pub prev_term: Term,
    /// Entries to store, contiguous from `prev_index + 1`.
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub commit: LogIndex,
}

/// AppendEntries result.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendResponse {
    /// The follower's log matches the leader's up to `match_index`, durably.
    Accepted {
        /// Highest index known to match.
        match_index: LogIndex,
    },
    /// The entry at `prev_index` did not match.
    Rejected {
        /// The `prev_index` of the rejected append.
        rejected: LogIndex,
        /// With `hint_term`, where the leader should probe next: the
        /// follower's last index at or below `rejected` whose term is at
        /// most the append's `prev_term` (fast back-off, thesis §5.3).
        hint_index: LogIndex,
        /// The term at `hint_index`.
        hint_term: Term,
    },
}

/// Heartbeat arguments.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The leader's commit index, capped at what the follower is known to hold.
    pub commit: LogIndex,
    /// The read round this heartbeat confirms.
    pub read_round: u64,
}

/// Heartbeat result.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// The read round being confirmed.
    pub read_round: u64,
}

impl Message {
    /// Approximate size on the wire.
    pub fn size(&self) -> usize {
        16 + match &self.body {
            Body::Append(a) => 32 + a.entries.iter().map(Entry::size).sum::<usize>(),
            Body::Snapshot(s) => 48 + s.data.len() + 8 * s.meta.membership.members().count(),
            _ => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;
    use crate::replica::Membership;
    use crate::replica::SnapshotMeta;
    use bytes::Bytes;

    /// Drivers batch and apply back-pressure by this estimate, so it must
    /// grow with every byte a message carries: a 16-byte header, a fixed
    /// part per kind, and then the entries or the snapshot data and its
    /// member list.
    #[test]
    fn sizes_count_the_header_the_body_and_what_it_carries() {
        let m = |body| Message { term: Term(1), body };
        let hb = m(Body::Heartbeat(Heartbeat { commit: LogIndex(0), read_round: 0 }));
        assert_eq!(hb.size(), 16 + 32);
        let e = Entry::command(LogIndex(1), Term(1), Bytes::from(alloc::vec![0u8; 100]));
        let append = |n| {
            let entries = alloc::vec![e.clone(); n];
            m(Body::Append(Append { prev_index: LogIndex(0), prev_term: Term(0), entries, commit: LogIndex(0) }))
        };
        assert_eq!(append(0).size(), 16 + 32);
        assert_eq!(append(2).size(), 16 + 32 + 2 * e.size());
        let membership = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap();
        let meta = SnapshotMeta { index: LogIndex(1), term: Term(1), membership };
        let chunk = SnapshotChunk { meta, offset: 0, data: Bytes::from(alloc::vec![0u8; 500]), done: true };
        assert_eq!(m(Body::Snapshot(chunk)).size(), 16 + 48 + 500 + 3 * 8);
    }
}
