//! Client sessions: exactly-once commands under retries.
//!
//! A client that times out cannot tell whether its command was applied, so
//! it retries, and the retry may be a second copy of a command already in
//! the log. Following Ongaro's thesis (§6.3, "Implementing linearizable
//! semantics"), each client opens a session and numbers its commands; the
//! service remembers, per session, the last sequence number applied and its
//! reply:
//!
//! - a higher number is new: apply it, remember its reply;
//! - the same number is a retry: answer the remembered reply, apply nothing;
//! - a lower number is a stale copy of a command the client already moved
//!   past: refuse it ([`SessionError::StaleSequence`]), apply nothing.
//!
//! A client may skip numbers but has one command in flight at a time.
//! Sessions expire after an idle time measured in log time (like ZooKeeper
//! sessions, expired by the leader through the log), counted like a lease's
//! TTL from the first tick after the session's last command.
//!
//! **Bounds.** The table holds at most [`Bounds::max_sessions`] sessions:
//! opening one more evicts the least recently used (the thesis's own
//! suggestion, §6.3; ties go to the lowest id, so every replica evicts the
//! same one). An evicted session answers [`SessionError::Expired`], so its
//! client treats its command in flight as maybe applied — never applied
//! twice. A saved reply longer than [`Bounds::max_reply_bytes`] encoded is
//! not kept: a retry of that command is answered
//! [`StoreError::ReplyNotKept`](super::StoreError::ReplyNotKept) (it was
//! applied once; its answer is gone). The table's memory is therefore at
//! most `max_sessions × (max_reply_bytes + MAX_HOLDER + 64)` bytes.
//!
//! **Owners.** A session belongs to the holder that opened it
//! ([`super::Caller::holder`]): only that holder, or an admin, may use or
//! close it, so a client cannot read another's saved replies or push its
//! sequence numbers ahead. A session opened with an empty holder is
//! anyone's.

use super::clock::{Timer, Timers};
use super::command::Caller;
use super::reply::Reply;
use crate::time::{Duration, Instant};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;

crate::id::id_type!(
    /// A client session. Ids are dense and start at 1.
    ClientId,
    "client"
);

crate::id::id_type!(
    /// A command's number within its session; each new command takes a
    /// higher one.
    Seq,
    "seq"
);

/// Why a sessioned command was refused. Nothing was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No session with this id was ever opened.
    #[error("unknown session")]
    Unknown,
    /// The session was closed or expired; its client must open a new one
    /// and treat commands in flight as maybe-applied.
    #[error("session expired or closed")]
    Expired,
    /// The sequence number is below the last one applied.
    #[error("sequence number already passed")]
    StaleSequence,
    /// The session belongs to another holder.
    #[error("the session belongs to another client")]
    NotOwner,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) last: Option<(Seq, Reply)>,
    /// The holder that opened it; empty: anyone's.
    pub(crate) owner: Bytes,
    /// The log index that last opened or used it: the least recently used
    /// session is the one a full table evicts.
    pub(crate) used: u64,
}

/// How large the session table may grow. Part of the store's
/// configuration: every replica must use the same bounds, since they
/// decide which session is evicted and which reply is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Open sessions at most; one more evicts the least recently used.
    pub max_sessions: usize,
    /// The longest encoded reply kept for retries.
    pub max_reply_bytes: usize,
}

impl Default for Bounds {
    /// 10,000 sessions of at most 1 KiB replies: about 11 MiB at worst.
    fn default() -> Self {
        Bounds { max_sessions: 10_000, max_reply_bytes: 1024 }
    }
}

/// The session table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sessions {
    table: BTreeMap<ClientId, Session>,
    timers: Timers<ClientId>,
    opened: u64,
    idle: Duration,
    bounds: Bounds,
}

impl Sessions {
    /// An empty table whose sessions expire after `idle` of log time
    /// without a command, with the default [`Bounds`].
    pub fn new(idle: Duration) -> Sessions {
        Sessions::bounded(idle, Bounds::default())
    }

    /// An empty table with these bounds.
    pub fn bounded(idle: Duration, bounds: Bounds) -> Sessions {
        Sessions { table: BTreeMap::new(), timers: Timers::default(), opened: 0, idle, bounds }
    }

    /// Opens a session for `owner` by the entry at `index`; a full table
    /// first evicts its least recently used session.
    pub fn open(&mut self, owner: Bytes, index: u64) -> ClientId {
        let evicted = match self.table.len() >= self.bounds.max_sessions.max(1) {
            // Raft thesis §6.3: bound the table, evicting least recently used.
            true => self.table.iter().min_by_key(|(id, s)| (s.used, **id)).map(|(id, _)| *id),
            false => None,
        };
        if let Some(old) = evicted {
            self.close_unchecked(old);
        }
        self.opened += 1;
        let id = ClientId(self.opened);
        self.table.insert(id, Session { last: None, owner, used: index });
        self.timers.restart(id, self.idle);
        id
    }

    /// Closes a session for `caller`: true if it was open.
    pub fn close(&mut self, id: ClientId, caller: &Caller) -> Result<bool, SessionError> {
        match self.get(id) {
            Ok(s) if !may_use(s, caller) => Err(SessionError::NotOwner),
            Ok(_) => Ok(self.close_unchecked(id)),
            Err(_) => Ok(false),
        }
    }

    fn close_unchecked(&mut self, id: ClientId) -> bool {
        self.timers.cancel(id);
        self.table.remove(&id).is_some()
    }

    /// Starts command `seq` of `client`, sent by `caller` in the entry at
    /// `index`: `Ok(None)` if it is new, `Ok(Some(reply))` if it is a retry
    /// of the last one. Either way the session's idle clock restarts.
    /// Refusals change nothing.
    pub fn begin(
        &mut self,
        client: ClientId,
        seq: Seq,
        caller: &Caller,
        index: u64,
    ) -> Result<Option<Reply>, SessionError> {
        let missing = self.missing(client);
        let s = self.table.get_mut(&client).ok_or(missing)?;
        if !may_use(s, caller) {
            return Err(SessionError::NotOwner);
        }
        let outcome = match &s.last {
            Some((last, reply)) if seq == *last => Some(reply.clone()),
            Some((last, _)) if seq < *last => return Err(SessionError::StaleSequence),
            _ => None,
        };
        s.used = index;
        self.timers.restart(client, self.idle);
        Ok(outcome)
    }

    /// Remembers `reply` as the answer to `client`'s command `seq` — or,
    /// past [`Bounds::max_reply_bytes`], that the answer was not kept. A
    /// no-op if the command closed its own session.
    pub fn finish(&mut self, client: ClientId, seq: Seq, reply: Reply) {
        let reply = match reply.encode().len() > self.bounds.max_reply_bytes {
            true => Reply::Error(super::StoreError::ReplyNotKept),
            false => reply,
        };
        if let Some(s) = self.table.get_mut(&client) {
            s.last = Some((seq, reply));
        }
    }

    /// The last sequence number applied for `client`.
    pub fn last_seq(&self, client: ClientId) -> Result<Option<Seq>, SessionError> {
        Ok(self.get(client)?.last.as_ref().map(|(s, _)| *s))
    }

    /// True if `client`'s session is open.
    pub fn is_open(&self, client: ClientId) -> bool {
        self.table.contains_key(&client)
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if no session is open.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of sessions ever opened; the next id is one more.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// The idle time after which a session expires.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// A new leader's grace: no session idles out before `floor`.
    pub(crate) fn extend_to(&mut self, floor: Instant) {
        self.timers.extend_to(floor);
    }

    /// Log time moved to `now`: starts pending idle clocks and closes the
    /// sessions that were idle too long, into `expired`.
    pub fn advance(&mut self, now: Instant, expired: &mut Vec<ClientId>) {
        let start = expired.len();
        self.timers.advance(now, expired);
        for id in &expired[start..] {
            self.table.remove(id);
        }
    }

    fn get(&self, id: ClientId) -> Result<&Session, SessionError> {
        self.table.get(&id).ok_or_else(|| self.missing(id))
    }

    /// Why `id` has no entry: expired or closed if it was ever opened.
    fn missing(&self, id: ClientId) -> SessionError {
        match id.0 >= 1 && id.0 <= self.opened {
            true => SessionError::Expired,
            false => SessionError::Unknown,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ClientId, &Session, Option<Timer>)> {
        self.table.iter().map(|(&id, s)| (id, s, self.timers.get(id)))
    }

    /// Rebuilds a table from a snapshot's parts.
    pub(crate) fn from_parts(
        idle: Duration,
        bounds: Bounds,
        opened: u64,
        sessions: Vec<(ClientId, Session, Timer)>,
    ) -> Sessions {
        let mut t = Sessions { opened, ..Sessions::bounded(idle, bounds) };
        for (id, s, timer) in sessions {
            t.table.insert(id, s);
            t.timers.set(id, timer);
        }
        t
    }
}

/// An admin may use any session; anyone may use one opened anonymously.
fn may_use(s: &Session, caller: &Caller) -> bool {
    s.owner.is_empty() || caller.admin || s.owner == caller.holder
}
