//! `SYNOD.BACKUP`: a consistent backup of a live node, read in chunks.
//!
//! ```text
//! SYNOD.BACKUP TAKE                  take a backup; answers [bytes, index, term]
//! SYNOD.BACKUP READ <offset> <count> the backup's bytes from offset (at most count)
//! SYNOD.BACKUP DONE                  drop it
//! ```
//!
//! The node takes the backup once it has applied everything committed
//! before the request (the leader confirms the index, as for a
//! linearizable read), so it holds every write acknowledged before `TAKE`.
//! The connection holds one backup at a time, until `DONE`, the next
//! `TAKE` or the connection's end; it is read in chunks so no reply passes
//! the server's reply limit, however large the state. The bytes are a
//! [`synod_net::backup`] file: `synod snapshot save` writes them as they
//! come and checks the whole before keeping it. Taking a backup copies
//! every key, so it takes an admin user (or no authentication at all,
//! which protected mode allows only on loopback or a trusted network).

use super::Server;
use super::commands::Client;
use super::reply::{array, bulk, client_error, err, int, ok};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;

type Answer = Result<BytesFrame, BytesFrame>;

/// Room left in a reply for its framing.
const FRAMING: usize = 64;

/// `SYNOD.BACKUP …`.
pub(super) async fn backup(server: &Server, client: &mut Client, admin: bool, a: &[Bytes]) -> Answer {
    super::admin::admin_only(server, admin, "taking a backup")?;
    match (&a[0].to_ascii_uppercase()[..], a.len()) {
        (b"TAKE", 1) => {
            client.backup = None;
            let file = server.backend.backup().await.map_err(|e| client_error(e, None))?;
            let snap = synod_net::backup::decode(file.clone())
                .map_err(|e| err(&format!("ERR the node produced a bad backup: {e}")))?;
            let answer =
                array(vec![int(file.len() as i64), int(snap.meta.index.0 as i64), int(snap.meta.term.0 as i64)]);
            client.backup = Some(file);
            Ok(answer)
        }
        (b"READ", 3) => {
            let Some(file) = &client.backup else {
                return Err(err("ERR no backup taken on this connection (SYNOD.BACKUP TAKE first)"));
            };
            let offset = number(&a[1])?;
            let count = number(&a[2])?.min(server.policy.limits.max_reply.saturating_sub(FRAMING));
            let from = offset.min(file.len());
            let to = from.saturating_add(count).min(file.len());
            Ok(bulk(file.slice(from..to)))
        }
        (b"DONE", 1) => {
            client.backup = None;
            Ok(ok())
        }
        _ => Err(err("ERR usage: SYNOD.BACKUP TAKE | READ <offset> <count> | DONE")),
    }
}

fn number(b: &Bytes) -> Result<usize, BytesFrame> {
    core::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| err("ERR value is not an integer or out of range"))
}
