//! Message classes: each travels on its own QUIC stream with its own queue
//! and writer, so a snapshot transfer never delays a heartbeat or a vote.
//!
//! Raft tolerates reordering between classes (any message may be delayed
//! or reordered by the network, Raft §5.1); within a class, order is kept.

use synod_core::raft::Body;
use synod_core::replica;
use synod_net::codec::Frame;

/// A message class: one stream, one queue, one writer per peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Votes, heartbeats, every response, leadership transfer: small and
    /// latency-bound.
    Control,
    /// AppendEntries.
    Replication,
    /// InstallSnapshot chunks: large, bulk.
    Snapshot,
    /// Client requests forwarded to the leader, and the replies.
    Client,
}

impl Class {
    /// Every class, in stream-tag order.
    pub const ALL: [Class; 4] = [Class::Control, Class::Replication, Class::Snapshot, Class::Client];

    /// The class a frame travels in.
    pub fn of(frame: &Frame) -> Class {
        match frame {
            Frame::Replica(replica::Message::Raft(m)) => match m.body {
                Body::Append(_) => Class::Replication,
                Body::Snapshot(_) => Class::Snapshot,
                _ => Class::Control,
            },
            Frame::Request(_) | Frame::Reply(_) => Class::Client,
            // A hello after the handshake is a protocol violation; it
            // travels like control and the receiver disconnects.
            Frame::Hello(_) => Class::Control,
            #[allow(unreachable_patterns)]
            _ => Class::Control,
        }
    }

    /// The first byte of the class's stream.
    pub fn tag(self) -> u8 {
        match self {
            Class::Control => 1,
            Class::Replication => 2,
            Class::Snapshot => 3,
            Class::Client => 4,
        }
    }

    /// The class a stream tag names.
    pub fn from_tag(tag: u8) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.tag() == tag)
    }

    /// Index into per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stream's send priority (higher goes first when the connection
    /// is congested).
    pub fn priority(self) -> i32 {
        match self {
            Class::Control => 3,
            Class::Client => 2,
            Class::Replication => 1,
            Class::Snapshot => 0,
        }
    }
}

impl core::fmt::Display for Class {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Class::Control => "control",
            Class::Replication => "replication",
            Class::Snapshot => "snapshot",
            Class::Client => "client",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::id::{LogIndex, Term};
    use synod_core::raft::{Append, Heartbeat, Message, SnapshotChunk, VoteResponse};
    use synod_core::replica::SnapshotMeta;

    fn raft(body: Body) -> Frame {
        Frame::Replica(replica::Message::Raft(Message { term: Term(1), body }))
    }

    #[test]
    fn snapshots_and_appends_never_share_the_control_stream() {
        let hb = raft(Body::Heartbeat(Heartbeat { commit: LogIndex(0), read_round: 0 }));
        let vote = raft(Body::VoteResponse(VoteResponse { pre_vote: false, granted: true }));
        let append = raft(Body::Append(Append {
            prev_index: LogIndex(0),
            prev_term: Term(0),
            entries: vec![],
            commit: LogIndex(0),
        }));
        let chunk = raft(Body::Snapshot(SnapshotChunk {
            meta: SnapshotMeta::default(),
            offset: 0,
            data: Bytes::from_static(b"x"),
            done: true,
        }));
        assert_eq!(Class::of(&hb), Class::Control);
        assert_eq!(Class::of(&vote), Class::Control);
        assert_eq!(Class::of(&append), Class::Replication);
        assert_eq!(Class::of(&chunk), Class::Snapshot);
        for c in Class::ALL {
            assert_eq!(Class::from_tag(c.tag()), Some(c));
            assert_eq!(Class::ALL[c.index()], c);
        }
        assert_eq!(Class::from_tag(0), None);
        assert!(Class::Control.priority() > Class::Snapshot.priority());
    }
}
