use super::*;
use crate::client::{ClientError, ClientReply, ClientRequest, Refusal, RequestOp};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use synod_core::id::{Ballot, LogIndex, NodeId, Term};
use synod_core::paxos::multi;
use synod_core::raft::{
    Append, AppendResponse, Body, Heartbeat, HeartbeatResponse, Message, SnapshotChunk, SnapshotResponse, VoteRequest,
    VoteResponse,
};
use synod_core::replica::{self, Entry, EntryKind, MemberStep, Membership, SnapshotMeta};

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (any::<u64>(), any::<u64>(), 0u8..3, arb_bytes()).prop_map(|(i, t, k, data)| Entry {
        index: LogIndex(i),
        term: Term(t),
        kind: EntryKind::from_u8(k).unwrap(),
        data,
    })
}

fn arb_membership() -> impl Strategy<Value = Membership> {
    (
        proptest::collection::btree_set(0u64..20, 1..6),
        proptest::collection::btree_set(20u64..30, 0..3),
        proptest::collection::vec((0u64..30, arb_bytes()), 0..4),
    )
        .prop_map(|(v, l, a)| {
            Membership::new(v.into_iter().map(NodeId).collect(), l.into_iter().map(NodeId).collect())
                .unwrap()
                .with_addresses(a.into_iter().map(|(id, addr)| (NodeId(id), addr)))
                .unwrap()
        })
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<bool>(), any::<bool>(), any::<u64>(), any::<u64>()).prop_map(|(p, t, i, tm)| Body::Vote(VoteRequest {
            pre_vote: p,
            transfer: t,
            last_index: LogIndex(i),
            last_term: Term(tm)
        })),
        (any::<bool>(), any::<bool>()).prop_map(|(p, g)| Body::VoteResponse(VoteResponse { pre_vote: p, granted: g })),
        (any::<u64>(), any::<u64>(), proptest::collection::vec(arb_entry(), 0..5), any::<u64>()).prop_map(
            |(pi, pt, entries, c)| Body::Append(Append {
                prev_index: LogIndex(pi),
                prev_term: Term(pt),
                entries,
                commit: LogIndex(c)
            })
        ),
        any::<u64>().prop_map(|m| Body::AppendResponse(AppendResponse::Accepted { match_index: LogIndex(m) })),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(r, h, t)| Body::AppendResponse(
            AppendResponse::Rejected { rejected: LogIndex(r), hint_index: LogIndex(h), hint_term: Term(t) }
        )),
        (any::<u64>(), any::<u64>())
            .prop_map(|(c, r)| Body::Heartbeat(Heartbeat { commit: LogIndex(c), read_round: r })),
        any::<u64>().prop_map(|r| Body::HeartbeatResponse(HeartbeatResponse { read_round: r })),
        (any::<u64>(), any::<u64>(), arb_membership(), any::<u64>(), arb_bytes(), any::<bool>()).prop_map(
            |(i, t, membership, offset, data, done)| Body::Snapshot(SnapshotChunk {
                meta: SnapshotMeta { index: LogIndex(i), term: Term(t), membership },
                offset,
                data,
                done
            })
        ),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(i, o, d)| Body::SnapshotResponse(SnapshotResponse {
            index: LogIndex(i),
            next_offset: o,
            done: d
        })),
        Just(Body::TimeoutNow),
    ]
}

fn arb_ballot() -> impl Strategy<Value = Ballot> {
    (any::<u64>(), any::<u64>()).prop_map(|(r, n)| Ballot::new(r, NodeId(n)))
}

/// Every Multi-Paxos message body.
fn arb_paxos_body() -> impl Strategy<Value = multi::Body> {
    use multi::Body as B;
    prop_oneof![
        (any::<u64>(), proptest::option::of(arb_ballot()))
            .prop_map(|(c, transfer)| B::Prepare(multi::Prepare { commit: LogIndex(c), transfer })),
        Just(B::TimeoutNow),
        (any::<u64>(), proptest::collection::vec(arb_entry(), 0..5))
            .prop_map(|(c, entries)| B::Promise(multi::Promise { commit: LogIndex(c), entries })),
        (arb_ballot(), 0u8..3).prop_map(|(promised, r)| B::Nack(multi::Nack {
            promised,
            reason: multi::NackReason::from_u8(r).unwrap()
        })),
        (proptest::collection::vec(arb_entry(), 0..5), any::<u64>())
            .prop_map(|(entries, c)| B::Accept(multi::Accept { entries, commit: LogIndex(c) })),
        any::<u64>().prop_map(|m| B::Accepted(multi::Accepted { match_index: LogIndex(m) })),
        (any::<u64>(), any::<u64>())
            .prop_map(|(c, r)| B::Heartbeat(multi::Heartbeat { commit: LogIndex(c), read_round: r })),
        (any::<u64>(), any::<u64>()).prop_map(|(r, m)| B::HeartbeatResponse(multi::HeartbeatResponse {
            read_round: r,
            match_index: LogIndex(m)
        })),
        (any::<u64>(), any::<u64>(), arb_membership(), any::<u64>(), arb_bytes(), any::<bool>()).prop_map(
            |(i, t, membership, offset, data, done)| B::Snapshot(multi::SnapshotChunk {
                meta: SnapshotMeta { index: LogIndex(i), term: Term(t), membership },
                offset,
                data,
                done
            })
        ),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(i, o, d)| B::SnapshotResponse(
            multi::SnapshotResponse { index: LogIndex(i), next_offset: o, done: d }
        )),
    ]
}

fn arb_client_error() -> impl Strategy<Value = ClientError> {
    prop_oneof![
        proptest::option::of(any::<u64>()).prop_map(|h| ClientError::NotLeader { leader_hint: h.map(NodeId) }),
        Just(ClientError::Timeout),
        Just(ClientError::Busy),
        Just(ClientError::ShuttingDown),
        Just(ClientError::Lost),
        Just(ClientError::TooLarge),
        Just(ClientError::Unavailable),
        Just(ClientError::NoSpace),
        proptest::option::of(any::<u64>()).prop_map(|h| ClientError::LeaderChanged { leader_hint: h.map(NodeId) }),
        Just(ClientError::Refused(Refusal::ChangePending)),
        any::<u64>().prop_map(|id| ClientError::Refused(Refusal::AlreadyMember(NodeId(id)))),
        any::<u64>().prop_map(|id| ClientError::Refused(Refusal::NotMember(NodeId(id)))),
        any::<u64>().prop_map(|id| ClientError::Refused(Refusal::NotVoter(NodeId(id)))),
        any::<u64>().prop_map(|id| ClientError::Refused(Refusal::LastVoter(NodeId(id)))),
        Just(ClientError::Refused(Refusal::Invalid)),
        Just(ClientError::Refused(Refusal::Unsupported)),
        any::<u64>().prop_map(|id| ClientError::Refused(Refusal::NotCaughtUp(NodeId(id)))),
        (any::<u64>(), any::<u64>())
            .prop_map(|(o, n)| ClientError::Refused(Refusal::NotReplaceable { old: NodeId(o), new: NodeId(n) })),
    ]
}

fn arb_request_op() -> impl Strategy<Value = RequestOp> {
    prop_oneof![
        arb_bytes().prop_map(RequestOp::Propose),
        arb_bytes().prop_map(RequestOp::Query),
        (any::<u64>(), arb_bytes())
            .prop_map(|(id, address)| RequestOp::Member(MemberStep::AddLearner { id: NodeId(id), address })),
        any::<u64>().prop_map(|id| RequestOp::Member(MemberStep::Promote { id: NodeId(id) })),
        any::<u64>().prop_map(|id| RequestOp::Member(MemberStep::Remove { id: NodeId(id) })),
        (any::<u64>(), any::<u64>())
            .prop_map(|(o, n)| RequestOp::Member(MemberStep::Replace { old: NodeId(o), new: NodeId(n) })),
        any::<u64>().prop_map(|id| RequestOp::TransferLeader(NodeId(id))),
        Just(RequestOp::ReadIndex),
        Just(RequestOp::Configuration),
    ]
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<u64>(), arb_body())
            .prop_map(|(t, body)| Frame::Replica(replica::Message::Raft(Message { term: Term(t), body }))),
        (arb_ballot(), arb_paxos_body())
            .prop_map(|(ballot, body)| Frame::Replica(replica::Message::MultiPaxos(multi::Message { ballot, body }))),
        ("[a-z0-9-]{0,64}", any::<u64>(), proptest::option::of(any::<u64>())).prop_map(|(c, f, t)| Frame::Hello(
            Hello { version: frame::VERSION, cluster_id: c, from: NodeId(f), to: t.map(NodeId) }
        )),
        (any::<u64>(), arb_request_op()).prop_map(|(id, op)| Frame::Request(ClientRequest { id, op })),
        (any::<u64>(), prop_oneof![arb_bytes().prop_map(Ok), arb_client_error().prop_map(Err)])
            .prop_map(|(id, result)| Frame::Reply(ClientReply { id, result })),
    ]
}

proptest! {
    /// Encode → decode round-trips every message of every kind.
    #[test]
    fn every_frame_round_trips(frames in proptest::collection::vec(arb_frame(), 1..6)) {
        let codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        for f in &frames {
            codec.encode(f, &mut buf).unwrap();
        }
        for f in &frames {
            let got = codec.decode(&mut buf).unwrap();
            prop_assert_eq!(got.as_ref(), Some(f));
        }
        prop_assert!(buf.is_empty());
    }

    /// Any prefix of a valid stream decodes to whole frames then waits;
    /// never a panic, never a wrong frame.
    #[test]
    fn prefixes_wait_for_more(frame in arb_frame(), cut in 0usize..400) {
        let codec = FrameCodec::default();
        let mut full = BytesMut::new();
        codec.encode(&frame, &mut full).unwrap();
        let cut = cut.min(full.len());
        let mut part = BytesMut::from(&full[..cut]);
        let got = codec.decode(&mut part).unwrap();
        if cut == full.len() {
            prop_assert_eq!(got, Some(frame));
        } else {
            prop_assert_eq!(got, None);
        }
    }

    /// Arbitrary bytes give a frame, a wait, or a typed error: never a panic.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let codec = FrameCodec::new(1 << 16);
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..10 {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Flipping any byte of a valid frame never yields a *different* frame
    /// kind silently accepted as valid garbage: it decodes to some frame or
    /// errors, and never panics.
    #[test]
    fn bit_flips_never_panic(frame in arb_frame(), at in any::<usize>(), bit in 0u8..8) {
        let codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(&frame, &mut buf).unwrap();
        let i = at % buf.len();
        buf[i] ^= 1 << bit;
        let _ = codec.decode(&mut buf);
    }
}

#[test]
fn an_oversized_length_is_refused_before_buffering() {
    let codec = FrameCodec::new(1024);
    let mut buf = BytesMut::from(&u32::MAX.to_le_bytes()[..]);
    assert_eq!(codec.decode(&mut buf), Err(FrameError::TooLarge { len: u32::MAX as usize, max: 1024 }));
    let big = Frame::Request(ClientRequest { id: 1, op: RequestOp::Propose(Bytes::from(vec![0; 2000])) });
    let mut out = BytesMut::new();
    assert!(matches!(codec.encode(&big, &mut out), Err(FrameError::TooLarge { .. })));
    assert!(out.is_empty(), "a refused frame leaves nothing behind");
}

#[test]
fn a_huge_entry_count_does_not_allocate() {
    // An append claiming 4 billion entries in a 40-byte frame.
    let mut b = BytesMut::new();
    b.extend_from_slice(&[frame::VERSION, 2, 1]);
    b.extend_from_slice(&7u64.to_le_bytes());
    b.extend_from_slice(&[3]);
    b.extend_from_slice(&[0; 24]);
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(frame::decode_body(b.freeze()), Err(FrameError::Decode(DecodeError::Truncated("entry count"))));
}

#[test]
fn unknown_versions_and_kinds_are_typed_errors() {
    assert_eq!(frame::decode_body(Bytes::from_static(&[9, 1])), Err(FrameError::Version { got: 9 }));
    assert_eq!(
        frame::decode_body(Bytes::from_static(&[1, 77])),
        Err(FrameError::Decode(DecodeError::BadTag("frame kind")))
    );
    assert_eq!(
        frame::decode_body(Bytes::from_static(&[1, 2, 9])),
        Err(FrameError::Decode(DecodeError::BadTag("protocol")))
    );
}

#[test]
fn payloads_are_sliced_not_copied() {
    let codec = FrameCodec::default();
    let data = Bytes::from(vec![7u8; 1000]);
    let m = Message {
        term: Term(1),
        body: Body::Append(Append {
            prev_index: LogIndex(0),
            prev_term: Term(0),
            entries: vec![Entry::command(LogIndex(1), Term(1), data)],
            commit: LogIndex(0),
        }),
    };
    let mut buf = BytesMut::new();
    codec.encode(&Frame::Replica(replica::Message::Raft(m)), &mut buf).unwrap();
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Some(Frame::Replica(replica::Message::Raft(Message { body: Body::Append(a), .. }))) =
        codec.decode(&mut buf).unwrap()
    else {
        panic!("wrong frame")
    };
    let p = a.entries[0].data.as_ptr() as usize;
    assert!(range.contains(&p), "the entry payload points into the receive buffer");
}

#[test]
fn a_huge_paxos_entry_count_does_not_allocate() {
    // An accept claiming 4 billion entries in a short frame.
    let mut b = BytesMut::new();
    b.extend_from_slice(&[frame::VERSION, 2, 2]);
    b.extend_from_slice(&[0; 16]); // ballot
    b.extend_from_slice(&[4]); // accept
    b.extend_from_slice(&[0; 8]); // commit
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(frame::decode_body(b.freeze()), Err(FrameError::Decode(DecodeError::Truncated("entry count"))));
}

#[test]
fn unknown_paxos_tags_are_typed_errors() {
    let mut b = BytesMut::new();
    b.extend_from_slice(&[frame::VERSION, 2, 2]);
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&[42]);
    assert_eq!(frame::decode_body(b.freeze()), Err(FrameError::Decode(DecodeError::BadTag("multi-paxos message"))));
    let nack = multi::Message {
        ballot: Ballot::new(1, NodeId(1)),
        body: multi::Body::Nack(multi::Nack { promised: Ballot::new(2, NodeId(2)), reason: multi::NackReason::Stale }),
    };
    let mut buf = BytesMut::new();
    FrameCodec::default().encode(&Frame::Replica(replica::Message::MultiPaxos(nack)), &mut buf).unwrap();
    let last = buf.len() - 1;
    buf[last] = 9; // the reason byte
    assert_eq!(FrameCodec::default().decode(&mut buf), Err(FrameError::Decode(DecodeError::BadTag("nack reason"))));
}
