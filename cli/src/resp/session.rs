//! Exactly-once writes over RESP: client sessions (Raft thesis §6.3) as a
//! small extension any Redis client can send.
//!
//! ```text
//! SYNOD.SESSION OPEN              → (integer) session id
//! SYNOD.SEQ <id> <seq> <command> [arg ...]
//! SYNOD.SESSION CLOSE <id>        → (integer) 1 if it was open
//! ```
//!
//! `SYNOD.SEQ` runs a write command as command `seq` of session `id`. A
//! client numbers its writes 1, 2, 3, … and, after a timeout or a lost
//! connection, sends the *same* `SYNOD.SEQ` again (to any node): if the
//! first copy was applied, the retry is answered with its saved reply and
//! applied nothing. The node that takes a sessioned write also sends it
//! to a new leader itself when the old one fails, so a client rarely needs
//! to retry at all.
//!
//! Errors of their own (the command was not applied by this copy):
//! `SESSIONGONE` — expired, closed or evicted: the command may have been
//! applied once; open a new session. `STALESEQ` — below the session's last
//! number. `NOPERM` — opened by another user. `REPLYNOTKEPT` — a retry of
//! a command applied once whose reply was too large to keep.
//!
//! A session belongs to the user who opened it (anyone's when opened
//! without a named user) and expires after a minute without a command;
//! bounds are in [`synod_core::service::session`].

use super::catalog;
use super::commands::{Answer, Ctx, parse_u64 as parse_u64_arg};
use super::reply::{err, int};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use synod_core::service::{ClientId, ClientSeq, Op, Reply, Seq, StoreError};

/// `SYNOD.SESSION OPEN | CLOSE id`.
pub(super) async fn session(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    match (a[0].to_ascii_uppercase().as_slice(), a.len()) {
        (b"OPEN", 1) => match ctx.propose(Op::SessionOpen).await? {
            Reply::Session { client } => Ok(int(client.0 as i64)),
            other => Err(refusal(other)),
        },
        (b"CLOSE", 2) => {
            let client = ClientId(parse_u64_arg(&a[1])?);
            match ctx.propose(Op::SessionClose { client }).await? {
                Reply::Bool(open) => Ok(int(i64::from(open))),
                other => Err(refusal(other)),
            }
        }
        _ => Err(err("ERR syntax error: SYNOD.SESSION OPEN | CLOSE <id>")),
    }
}

/// The session, the inner command's upper-case name and its arguments of
/// `SYNOD.SEQ id seq command [arg ...]`.
pub(super) fn unwrap(a: &[Bytes]) -> Result<(ClientSeq, String, &[Bytes]), BytesFrame> {
    if a.len() < 3 {
        return Err(super::commands::arity("synod.seq"));
    }
    let number = |b: &Bytes| match parse_u64_arg(b) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(err("ERR session ids and sequence numbers are integers from 1")),
    };
    let session = ClientSeq { client: ClientId(number(&a[0])?), seq: Seq(number(&a[1])?) };
    let name = String::from_utf8_lossy(&a[2]).to_ascii_uppercase();
    // Only a store write has a reply to save; the rest are not store
    // commands, or read nothing twice.
    match catalog::find(&name) {
        // A transaction is one write, whatever it holds.
        Some(e) if (e.write && !e.name.starts_with("synod.")) || e.name == "exec" => Ok((session, name, &a[3..])),
        Some(_) => Err(err(&format!("ERR SYNOD.SEQ takes a store write; '{}' is not one", name.to_ascii_lowercase()))),
        None => Err(err(&format!("ERR unknown command '{}'", name.to_ascii_lowercase()))),
    }
}

/// The reply for a session refusal, if `reply` is one.
pub(super) fn refused(reply: &Reply) -> Option<BytesFrame> {
    let Reply::Error(e) = reply else { return None };
    Some(match e {
        StoreError::UnknownSession | StoreError::SessionExpired => err(
            "SESSIONGONE session expired, closed or never opened; the command may have been applied once: open a new session",
        ),
        StoreError::StaleSequence => err("STALESEQ sequence number below the session's last; nothing applied"),
        StoreError::SessionNotOwner => err("NOPERM the session belongs to another user"),
        StoreError::ReplyNotKept => {
            err("REPLYNOTKEPT the command was applied once; its reply was too large to keep for retries")
        }
        _ => return None,
    })
}

fn refusal(reply: Reply) -> BytesFrame {
    refused(&reply).unwrap_or_else(|| err(&format!("ERR unexpected reply {reply:?}")))
}
