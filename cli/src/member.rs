//! `synod member` and `synod leader`: membership and leadership of a
//! running cluster, through any node's RESP port (`SYNOD.MEMBER`,
//! `SYNOD.LEADER`).

use crate::args::{LeaderAction, LeaderArgs, MemberAction, MemberArgs, RemoteOpts};
use crate::remote;
use core::time::Duration;
use serde_json::Value;

type Error = String;

/// How long one step may take: a promotion waits for the learner to
/// acknowledge the joint configuration, which a node far behind does only
/// once caught up. The node itself gives up sooner (its request timeout);
/// a step that timed out is asked again, which is harmless.
const STEP: Duration = Duration::from_secs(30);

/// How often a timed-out or busy step is asked again, and for how long.
const RETRY_EVERY: Duration = Duration::from_millis(500);
const RETRY_FOR: Duration = Duration::from_secs(120);

/// Runs `synod member …`.
pub fn member(a: MemberArgs) -> Result<(), Error> {
    let r = &a.remote;
    match a.action {
        MemberAction::List { json } => {
            let v = list(r)?;
            if json {
                println!("{v}");
            } else {
                print!("{}", table(&v));
            }
        }
        MemberAction::Add { id, address } => {
            step(r, &[b"SYNOD.MEMBER", b"ADD", id.to_string().as_bytes(), address.as_bytes()])?;
            let v = list(r)?;
            println!("node {id} added as a learner at {address}; start it (if it is not running) with:");
            println!("  synod node --id {id} --join --members {} ...", join_list(&v));
            println!("then promote it once it has caught up (synod member list shows its progress):");
            println!("  synod member promote {id} --addr {}", r.addr);
        }
        MemberAction::Promote { id } => {
            step(r, &[b"SYNOD.MEMBER", b"PROMOTE", id.to_string().as_bytes()])?;
            println!("node {id} is a voter");
        }
        MemberAction::Remove { id } => {
            step(r, &[b"SYNOD.MEMBER", b"REMOVE", id.to_string().as_bytes()])?;
            println!("node {id} is no longer a member; stop it, and never reuse its id");
        }
        MemberAction::Replace { old, new } => {
            let (o, n) = (old.to_string(), new.to_string());
            step(r, &[b"SYNOD.MEMBER", b"REPLACE", o.as_bytes(), n.as_bytes()])?;
            println!("node {new} is a voter in place of node {old}; stop node {old}, and never reuse its id");
        }
    }
    Ok(())
}

/// Runs `synod leader …`.
pub fn leader(a: LeaderArgs) -> Result<(), Error> {
    let r = &a.remote;
    match a.action {
        LeaderAction::Transfer { id } => {
            step(r, &[b"SYNOD.LEADER", b"TRANSFER", id.to_string().as_bytes()])?;
            // The transfer started; it completes within an election timeout.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let s = crate::status::fetch_as(&r.addr, r.login(), STEP)?;
                if s.get("leader").and_then(Value::as_u64) == Some(id) {
                    println!("node {id} leads");
                    return Ok(());
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!(
                        "node {id} did not take over in time (the leader abandons a transfer \
                         after an election timeout); see synod status"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn list(r: &RemoteOpts) -> Result<Value, Error> {
    remote::call_json(&r.addr, r.login(), &[b"SYNOD.MEMBER", b"LIST"], STEP)
}

/// Asks a step until it is done: again after a timeout, a leader change
/// or a change still in progress, since asking again is harmless; any
/// other refusal is final.
fn step(r: &RemoteOpts, args: &[&[u8]]) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + RETRY_FOR;
    loop {
        match remote::call(&r.addr, r.login(), args, STEP) {
            Ok(_) => return Ok(()),
            Err(e) if retryable(&e) && std::time::Instant::now() < deadline => {
                eprintln!("synod: {e}; asking again");
                std::thread::sleep(RETRY_EVERY);
            }
            Err(e) => return Err(e),
        }
    }
}

fn retryable(e: &str) -> bool {
    [
        "timeout",
        "in progress",
        "no leader",
        "leader changed",
        "not the leader",
        "BUSY",
        "before the command committed",
        "not caught up",
    ]
    .iter()
    .any(|s| e.contains(s))
}

/// `--members` for a node joining: every member with a recorded address.
fn join_list(v: &Value) -> String {
    let members = v.get("members").and_then(Value::as_array).cloned().unwrap_or_default();
    let list: Vec<String> = members
        .iter()
        .filter_map(|m| Some(format!("{}={}", m.get("id")?.as_u64()?, m.get("address")?.as_str()?)))
        .collect();
    list.join(",")
}

/// The membership document as a table.
pub fn table(v: &Value) -> String {
    let mut out = String::new();
    if v.get("joint").and_then(Value::as_bool) == Some(true) {
        out.push_str("a change is in progress (joint configuration)\n");
    }
    out.push_str(&format!("{:>6} {:>8} {:>7} {:>12}  {}\n", "id", "role", "leader", "match", "address"));
    for m in v.get("members").and_then(Value::as_array).into_iter().flatten() {
        let f = |k: &str| match m.get(k) {
            None | Some(Value::Null) => "-".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(x) => x.to_string(),
        };
        let leader = if m.get("leader").and_then(Value::as_bool) == Some(true) { "*" } else { "" };
        out.push_str(&format!(
            "{:>6} {:>8} {:>7} {:>12}  {}\n",
            f("id"),
            f("role"),
            leader,
            f("match_index"),
            f("address")
        ));
    }
    out
}
