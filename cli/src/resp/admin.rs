//! The operator's RESP commands: membership and leadership.
//!
//! ```text
//! SYNOD.MEMBER LIST                  the configuration in force, as JSON
//! SYNOD.MEMBER ADD <id> <host:port>  add a learner reachable there
//! SYNOD.MEMBER PROMOTE <id>          make a learner a voter
//! SYNOD.MEMBER REMOVE <id>           remove a voter or learner
//! SYNOD.LEADER TRANSFER <id>         hand leadership to a voter
//! ```
//!
//! Any node takes them and passes them to the leader. A step answers once
//! its configuration is in force (joint phase left, thesis §4.3);
//! repeating a step that took effect answers `+OK` and changes nothing, so
//! a step that timed out can simply be asked again. Changing the cluster
//! takes an admin user — or no authentication at all, which protected
//! mode allows only on loopback or a network declared trusted.

use super::Server;
use super::reply::{client_error, err, ok, text};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use serde_json::json;
use synod_core::id::NodeId;
use synod_core::replica::{MAX_ADDRESS_LEN, MemberStep, Membership};

type Answer = Result<BytesFrame, BytesFrame>;

fn node_id(b: &Bytes) -> Result<NodeId, BytesFrame> {
    match core::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok()) {
        Some(id) if id > 0 => Ok(NodeId(id)),
        _ => Err(err("ERR node id must be a positive integer")),
    }
}

fn may_change(server: &Server, admin: bool) -> Result<(), BytesFrame> {
    admin_only(server, admin, "changing the cluster's membership or leader")
}

/// Refuses `what` to a caller who is not an admin, where users log in.
pub(super) fn admin_only(server: &Server, admin: bool, what: &str) -> Result<(), BytesFrame> {
    if admin || !server.policy.users.required() {
        Ok(())
    } else {
        Err(err(&format!("NOPERM {what} takes an admin user")))
    }
}

/// `SYNOD.MEMBER …`.
pub(super) async fn member(server: &Server, admin: bool, a: &[Bytes]) -> Answer {
    let sub = a[0].to_ascii_uppercase();
    let step = match (&sub[..], a.len()) {
        (b"LIST", 1) => return list(server).await,
        (b"ADD", 3) => {
            let address = a[2].clone();
            // The address is replicated to every member: bound it here,
            // and require something a peer could dial.
            let well_formed = address.len() <= MAX_ADDRESS_LEN
                && core::str::from_utf8(&address)
                    .ok()
                    .and_then(|s| s.rsplit_once(':'))
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
            if !well_formed {
                return Err(err(&format!("ERR the address must be HOST:PORT, at most {MAX_ADDRESS_LEN} bytes")));
            }
            MemberStep::AddLearner { id: node_id(&a[1])?, address }
        }
        (b"PROMOTE", 2) => MemberStep::Promote { id: node_id(&a[1])? },
        (b"REMOVE", 2) => MemberStep::Remove { id: node_id(&a[1])? },
        (b"REPLACE", 3) => MemberStep::Replace { old: node_id(&a[1])?, new: node_id(&a[2])? },
        _ => {
            return Err(err(
                "ERR usage: SYNOD.MEMBER LIST | ADD <id> <host:port> | PROMOTE <id> | REMOVE <id> | REPLACE <old> <new>",
            ));
        }
    };
    may_change(server, admin)?;
    server.backend.member_step(step).await.map(|()| ok()).map_err(|e| client_error(e, None))
}

/// `SYNOD.LEADER TRANSFER <id>`.
pub(super) async fn leader(server: &Server, admin: bool, a: &[Bytes]) -> Answer {
    match (&a[0].to_ascii_uppercase()[..], a.len()) {
        (b"TRANSFER", 2) => {
            let to = node_id(&a[1])?;
            may_change(server, admin)?;
            server.backend.transfer_leader(to).await.map(|()| ok()).map_err(|e| client_error(e, None))
        }
        _ => Err(err("ERR usage: SYNOD.LEADER TRANSFER <id>")),
    }
}

/// The configuration in force, with each member's role and address, and
/// the leader's view of how far each has caught up. A linearizable read
/// first: once it is answered, this node has applied everything committed
/// before the request, every configuration included, so a step answered
/// anywhere shows here — not an older view of a follower still catching up.
async fn list(server: &Server) -> Answer {
    let barrier = synod_core::service::Query::LockOwner { lock: Bytes::new() }.encode();
    server.backend.query(barrier).await.map_err(|e| client_error(e, None))?;
    let s = server.backend.status().await.map_err(|e| client_error(e, None))?;
    Ok(text(membership_json(&s.replica.membership, s.replica.leader, &s.peers).to_string()))
}

/// The membership document `SYNOD.MEMBER LIST` and `SYNOD.STATUS` share.
pub(crate) fn membership_json(
    m: &Membership,
    leader: Option<NodeId>,
    peers: &[synod_core::replica::PeerStatus],
) -> serde_json::Value {
    let members: Vec<serde_json::Value> = m
        .members()
        .map(|id| {
            let role = if m.voters().contains(&id) {
                "voter"
            } else if m.outgoing().contains(&id) {
                "leaving"
            } else {
                "learner"
            };
            let progress = peers.iter().find(|p| p.id == id).map(|p| p.match_index.0);
            json!({
                "id": id.0,
                "role": role,
                "address": m.address(id).map(|a| String::from_utf8_lossy(a).into_owned()),
                "leader": leader == Some(id),
                "match_index": progress,
            })
        })
        .collect();
    json!({
        "joint": m.is_joint(),
        "voters": m.voters().iter().map(|v| v.0).collect::<Vec<_>>(),
        "outgoing": m.outgoing().iter().map(|v| v.0).collect::<Vec<_>>(),
        "learners": m.learners().iter().map(|v| v.0).collect::<Vec<_>>(),
        "members": members,
    })
}
