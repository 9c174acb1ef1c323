//! A joining node, told of one member, learns every member's address
//! from it before its own configuration arrives (node machines stepped by
//! hand, no threads).

use super::*;
use crate::client::{ClientReply, ClientRequest, RequestOp};
use crate::codec::Frame;
use std::collections::BTreeMap;
use synod_core::raft::{Config as RaftConfig, Raft};
use synod_core::replica::Membership;
use synod_core::service::kv::{Kv, Limits};

fn addrs() -> [(NodeId, Bytes); 3] {
    [1, 2, 3].map(|i| (NodeId(i), Bytes::from(format!("10.0.0.{i}:7000"))))
}

fn machine(id: u64, initial: Membership, peers: BTreeMap<NodeId, String>) -> Machine<Kv> {
    let raft = Raft::new(RaftConfig::new(NodeId(id), id), Instant::ZERO, Default::default(), initial).unwrap();
    let mut cfg = NodeConfig::new(NodeId(id));
    cfg.peers = Some(peers);
    Machine::new(cfg, Box::new(raft), Kv::new(Limits::default()), Instant::ZERO)
}

/// The frames a machine sends, and the peers it gives its transport.
type Sent = (Vec<(NodeId, Frame)>, Option<BTreeMap<NodeId, String>>);

fn frames(m: &mut Machine<Kv>) -> Sent {
    let mut out = NodeOutput::default();
    m.poll_output(&mut out);
    (out.frames, out.peers)
}

#[test]
fn a_joiner_told_of_one_member_learns_them_all_from_it() {
    let founders = Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).unwrap().with_addresses(addrs()).unwrap();
    let mut member = machine(2, founders.clone(), BTreeMap::new());
    let named: BTreeMap<NodeId, String> = [(NodeId(2), "10.0.0.2:7000".to_owned())].into();
    let mut joiner = machine(4, Membership::default(), named.clone());
    let (_, peers) = frames(&mut joiner);
    assert_eq!(peers.as_ref(), Some(&named), "at first, only the member it was told of");

    // It asks that member at once, and again every half second.
    let t0 = joiner.poll_timeout().expect("a joining node has something to do");
    joiner.handle_timeout(t0);
    let (sent, _) = frames(&mut joiner);
    let [(to, Frame::Request(ClientRequest { id, op: RequestOp::Configuration }))] = &sent[..] else {
        panic!("expected one question, got {sent:?}");
    };
    assert_eq!(*to, NodeId(2));
    assert_eq!(joiner.poll_timeout(), Some(t0 + super::discover::ASK_EVERY));

    // The member answers from its own configuration, leader or not.
    member.handle_frame(t0, NodeId(4), Frame::Request(ClientRequest { id: *id, op: RequestOp::Configuration }));
    let (answer, _) = frames(&mut member);
    let [(to, Frame::Reply(reply))] = &answer[..] else { panic!("expected one answer, got {answer:?}") };
    assert_eq!((*to, reply.id), (NodeId(4), *id));
    assert_eq!(reply.result, Ok(founders.encode()));

    // A reply to another question, or from another node, teaches nothing.
    let stray = ClientReply { id: id + 1, result: reply.result.clone() };
    joiner.handle_frame(t0, NodeId(2), Frame::Reply(stray));
    joiner.handle_frame(t0, NodeId(3), Frame::Reply(reply.clone()));
    assert_eq!(frames(&mut joiner).1, None);
    joiner.handle_frame(t0, NodeId(2), Frame::Reply(reply.clone()));
    let (_, peers) = frames(&mut joiner);
    let all: BTreeMap<NodeId, String> = addrs().map(|(i, a)| (i, String::from_utf8(a.to_vec()).unwrap())).into();
    assert_eq!(peers, Some(all), "every member, the leader whoever it is among them");

    // It goes on asking, every member it knows in turn, and an answer from
    // a member that is behind (here: one that knows nodes 2 and 3 only)
    // forgets nobody; nor does an answer that does not decode.
    let mut asked = Vec::new();
    let mut t = t0;
    for _ in 0..3 {
        t += super::discover::ASK_EVERY;
        joiner.handle_timeout(t);
        let (sent, _) = frames(&mut joiner);
        for (to, f) in sent {
            if let Frame::Request(ClientRequest { id, op: RequestOp::Configuration }) = f {
                asked.push(to.0);
                let behind = Membership::voters_only([NodeId(2), NodeId(3)]).unwrap();
                let behind = behind.with_addresses(addrs().into_iter().skip(1)).unwrap().encode();
                let answer = if asked.len() == 1 { Bytes::from_static(b"\xff\xff") } else { behind };
                joiner.handle_frame(t, to, Frame::Reply(ClientReply { id, result: Ok(answer) }));
            }
        }
        assert_eq!(frames(&mut joiner).1, None, "nothing forgotten");
    }
    asked.sort_unstable();
    assert_eq!(asked, vec![1, 2, 3], "every member learned of is asked in turn");

    // A node with a configuration of its own asks nobody.
    member.handle_timeout(t0 + Duration::from_secs(2));
    let (sent, _) = frames(&mut member);
    let asks = |f: &Frame| matches!(f, Frame::Request(ClientRequest { op: RequestOp::Configuration, .. }));
    assert!(!sent.iter().any(|(_, f)| asks(f)), "{sent:?}");
}
