//! RESP commands mapped onto the replicated store.

use super::auth::{Principal, Role};
use super::reply::{self, array, bulk, client_error, err, int, ok, opt, simple, text};
use super::transaction::{self, Mode};
use super::{Server, catalog, hashes, keys, strings};
use crate::tuning::ReadsAt;
use bytes::Bytes;
use core::net::SocketAddr;
use redis_protocol::resp2::types::BytesFrame;
use std::collections::BTreeMap;
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::lease::{FencingToken, LeaseId};
use synod_core::replica::MemberStep;
use synod_core::service::keyspace::{KeyCommand, KeyQuery, parse_integer};
use synod_core::service::kv::{KvCommand, KvError, KvQuery, KvReply};
use synod_core::service::{Caller, ClientSeq, Command, Op, Query, Reply, Step, Watched};
use synod_core::time::Duration;
use synod_net::client::ClientError;
use synod_net::node::{NodeHandle, NodeStatus};

/// What the front end knows beyond its node: members' RESP addresses (to
/// name the leader in redirects) and its failure detectors.
#[derive(Clone)]
pub struct Directory {
    /// Members' RESP addresses.
    pub resp: Arc<BTreeMap<NodeId, SocketAddr>>,
    /// Suspicion of each peer.
    pub suspicion: Arc<crate::suspicion::Suspicion>,
    /// The node's clock.
    pub clock: Arc<dyn Fn() -> synod_core::time::Instant + Send + Sync>,
}

/// What the front end sends commands to: a node, or (for fuzzing) a store
/// applied in place.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Applies a store command through the log.
    async fn propose(&self, command: Bytes) -> Result<Bytes, ClientError>;
    /// Answers a store query linearizably.
    async fn query(&self, query: Bytes) -> Result<Bytes, ClientError>;
    /// The node's status.
    async fn status(&self) -> Result<NodeStatus, ClientError>;
    /// Why the node stopped for good, if it did.
    fn failure(&self) -> Option<String> {
        None
    }
    /// Takes a membership step (at the leader); returns once in force.
    async fn member_step(&self, step: MemberStep) -> Result<(), ClientError> {
        let _ = step;
        Err(ClientError::Refused(synod_net::client::Refusal::Unsupported))
    }
    /// Asks the leader to hand leadership to `to`.
    async fn transfer_leader(&self, to: NodeId) -> Result<(), ClientError> {
        let _ = to;
        Err(ClientError::Refused(synod_net::client::Refusal::Unsupported))
    }
    /// A backup of the store, consistent as a linearizable read.
    async fn backup(&self) -> Result<Bytes, ClientError> {
        Err(ClientError::Refused(synod_net::client::Refusal::Unsupported))
    }
    /// Answers a store query linearizably from this node's own state (the
    /// leader confirms the index to wait for); where the backend has no
    /// followers, as [`Backend::query`].
    async fn follower_query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        self.query(query).await
    }
}

#[async_trait::async_trait]
impl Backend for NodeHandle {
    async fn propose(&self, command: Bytes) -> Result<Bytes, ClientError> {
        NodeHandle::propose(self, command).await
    }
    async fn query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        NodeHandle::query(self, query).await
    }
    async fn status(&self) -> Result<NodeStatus, ClientError> {
        NodeHandle::status(self).await
    }
    fn failure(&self) -> Option<String> {
        NodeHandle::failure(self)
    }
    async fn member_step(&self, step: MemberStep) -> Result<(), ClientError> {
        NodeHandle::member_step(self, step).await
    }
    async fn transfer_leader(&self, to: NodeId) -> Result<(), ClientError> {
        NodeHandle::transfer_leader(self, to).await
    }
    async fn backup(&self) -> Result<Bytes, ClientError> {
        NodeHandle::backup(self).await
    }
    async fn follower_query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        NodeHandle::follower_query(self, query).await
    }
}

/// What to do after a command.
pub(crate) enum Next {
    Continue,
    Close,
}

/// A connection's own state: who it is, and what it called itself.
pub(crate) struct Client {
    id: u64,
    /// Holds the leases this connection takes as the `default` user.
    holder: Bytes,
    /// Who it authenticated as; `None` until it does, if it must.
    principal: Option<Principal>,
    name: Option<Bytes>,
    /// The backup this connection took and is reading (`SYNOD.BACKUP`).
    pub(super) backup: Option<Bytes>,
    /// `READONLY`: reads are served from this node's own state once it
    /// has applied what the leader confirms (still linearizable), instead
    /// of by the leader.
    follower_reads: bool,
    /// The transaction since `MULTI`, if in one.
    pub(super) tx: Option<transaction::Queue>,
    /// Keys `WATCH`ed, with the versions read.
    pub(super) watched: Vec<Watched>,
    /// `HELLO 3`: replies are written in RESP3.
    pub(super) resp3: bool,
    /// The reply being written is a map's pairs (RESP3 writes a map).
    pub(super) map_reply: bool,
    /// Its line in `CLIENT LIST`.
    seen: super::clients::Registered,
}

impl Client {
    /// Whether the reply just built is a map's pairs; cleared by asking.
    pub(crate) fn take_map_reply(&mut self) -> bool {
        core::mem::take(&mut self.map_reply)
    }

    /// Whether the connection speaks RESP3.
    pub(crate) fn resp3(&self) -> bool {
        self.resp3
    }

    pub(crate) fn new(server: &Server, addr: Option<SocketAddr>) -> Client {
        let (id, holder) = server.next_connection();
        let principal = server.policy.users.unauthenticated();
        let user = principal.as_ref().map_or("(none)", |p| p.user.as_str());
        let seen = server.clients.join(id, addr, user);
        Client {
            id,
            holder,
            principal,
            name: None,
            backup: None,
            follower_reads: server.policy.reads_at == ReadsAt::ThisNode,
            tx: None,
            watched: Vec::new(),
            resp3: false,
            map_reply: false,
            seen,
        }
    }

    /// Who the store sees: a named user holds its leases across its
    /// connections; the shared `default` user's leases belong to the
    /// connection that took them.
    pub(super) fn caller(&self) -> Caller {
        let admin = self.principal.as_ref().is_some_and(|p| p.role == Role::Admin);
        match &self.principal {
            Some(p) if !p.is_default() => Caller { holder: Bytes::from(format!("user:{}", p.user)), admin },
            _ => Caller { holder: self.holder.clone(), admin },
        }
    }

    /// Who owns a session this connection opens: its named user, whose
    /// other connections may then retry in it; with the shared `default`
    /// user, nobody in particular (anyone's), since a retry comes on
    /// another connection.
    fn session_owner(&self) -> Caller {
        match self.principal.as_ref().is_some_and(|p| !p.is_default()) {
            true => self.caller(),
            false => Caller { holder: Bytes::new(), ..self.caller() },
        }
    }
}

/// What running a command takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Allowed before authenticating.
    Anyone,
    /// An authenticated client.
    Read,
    /// A read-write or admin user.
    Write,
}

/// Reads are listed; everything else, a command added later included,
/// takes write rights until it is listed here.
fn access(name: &str, a: &[Bytes]) -> Access {
    match name {
        "AUTH" | "HELLO" | "QUIT" => Access::Anyone,
        "READONLY" | "READWRITE" => Access::Read,
        "PING" | "ECHO" | "SELECT" | "GET" | "EXISTS" | "MGET" | "LOCKOWNER" | "INFO" | "SYNOD.STATUS" | "DBSIZE"
        | "CONFIG" | "CLIENT" | "COMMAND" | "STRLEN" | "GETRANGE" | "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME"
        | "TYPE" | "KEYS" | "SCAN" => Access::Read,
        "HGET" | "HMGET" | "HGETALL" | "HKEYS" | "HVALS" | "HLEN" | "HEXISTS" | "HSTRLEN" | "HSCAN" => Access::Read,
        // Each queued command's rights were checked as it was queued.
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" => Access::Read,
        "LEASE" if matches!(a.first().map(|s| s.to_ascii_uppercase()).as_deref(), Some(b"TTL" | b"LIST")) => {
            Access::Read
        }
        "SYNOD.MEMBER" if matches!(a.first().map(|s| s.to_ascii_uppercase()).as_deref(), Some(b"LIST")) => Access::Read,
        _ => Access::Write,
    }
}

pub(super) struct Ctx<'a> {
    pub(super) server: &'a Server,
    pub(super) client: &'a mut Client,
    /// `SYNOD.SEQ`: the command's place in a client session.
    session: Option<ClientSeq>,
    /// A command in a session makes one proposal: a second would be
    /// answered with the first's saved reply.
    proposed: core::sync::atomic::AtomicBool,
    /// Whether store calls are made, or captured or replayed for a
    /// transaction.
    mode: std::sync::Mutex<Mode>,
}

pub(super) type Answer = Result<BytesFrame, BytesFrame>;

impl Ctx<'_> {
    fn node(&self) -> &dyn Backend {
        self.server.backend.as_ref()
    }

    async fn leader_addr(&self) -> Option<String> {
        let s = self.node().status().await.ok()?;
        s.replica.leader.and_then(|l| self.server.dir.resp.get(&l)).map(|a| a.to_string())
    }

    async fn fail(&self, e: ClientError) -> BytesFrame {
        let names_leader = matches!(e, ClientError::NotLeader { .. } | ClientError::LeaderChanged { .. });
        let leader = if names_leader { self.leader_addr().await } else { None };
        client_error(e, leader)
    }

    /// Who the store sees for this command: the connection's caller —
    /// except that, without a named user, a command in a session acts as
    /// the session (`session:<id>`), so leases and locks it takes survive
    /// the connection, as Chubby ties them to the session: the client's
    /// next connection, to any node, keeps them alive.
    fn caller(&self) -> Caller {
        let named = self.client.principal.as_ref().is_some_and(|p| !p.is_default());
        match self.session {
            Some(s) if !named => {
                Caller { holder: Bytes::from(format!("session:{}", s.client.0)), ..self.client.caller() }
            }
            _ => self.client.caller(),
        }
    }

    /// The transaction mode (see [`transaction`]).
    pub(super) fn mode(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) async fn propose(&self, op: Op) -> Result<Reply, BytesFrame> {
        if let Some(answer) = self.mode().intercept(|| Step::Write(op.clone())) {
            return answer;
        }
        if self.session.is_some() && self.proposed.swap(true, core::sync::atomic::Ordering::Relaxed) {
            return Err(err("ERR internal: one command in a session proposed twice"));
        }
        let opens = op == Op::SessionOpen;
        let mut command = Command { session: self.session, ..Command::new(op) };
        if opens {
            command = command.by(self.client.session_owner());
        } else if command.needs_caller() {
            command = command.by(self.caller());
        }
        // Refused here, a command costs no copy and no trip to the node.
        if let Err(refusal) = self.server.policy.store.admit(&command) {
            return Ok(refusal);
        }
        match self.node().propose(command.encode()).await {
            Ok(b) => match Reply::decode(b) {
                Ok(reply) if self.session.is_some() => super::session::refused(&reply).map_or(Ok(reply), Err),
                Ok(reply) => Ok(reply),
                Err(_) => Err(err("ERR internal: undecodable reply")),
            },
            Err(e) => Err(self.fail(e).await),
        }
    }

    pub(super) async fn query(&self, q: Query) -> Result<Reply, BytesFrame> {
        if let Some(answer) = self.mode().intercept(|| Step::Read(q.clone())) {
            return answer;
        }
        let answer = match self.client.follower_reads {
            true => self.node().follower_query(q.encode()).await,
            false => self.node().query(q.encode()).await,
        };
        match answer {
            Ok(b) => Reply::decode(b).map_err(|_| err("ERR internal: undecodable reply")),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn kv(&self, cmd: KvCommand, lease: Option<LeaseId>) -> Result<KvReply, BytesFrame> {
        kv_reply(self.propose(Op::Kv { cmd, lease }).await?)
    }

    pub(super) async fn kv_query(&self, q: KvQuery) -> Result<KvReply, BytesFrame> {
        kv_reply(self.query(Query::Kv(q)).await?)
    }

    /// A string or key command: one log entry.
    pub(super) async fn key(&self, cmd: KeyCommand) -> Result<KvReply, BytesFrame> {
        kv_reply(self.propose(Op::Key(cmd)).await?)
    }

    /// A string or key read.
    pub(super) async fn ask(&self, q: KeyQuery) -> Result<KvReply, BytesFrame> {
        kv_reply(self.query(Query::Key(q)).await?)
    }
}

fn kv_reply(r: Reply) -> Result<KvReply, BytesFrame> {
    match r {
        Reply::Kv(KvReply::Error(e)) => Err(kv_error(e)),
        Reply::Kv(k) => Ok(k),
        Reply::Error(e) => Err(err(&format!("ERR {e}"))),
        other => Err(err(&format!("ERR unexpected reply {other:?}"))),
    }
}

fn kv_error(e: KvError) -> BytesFrame {
    match e {
        KvError::NotAnInteger => err("ERR value is not an integer or out of range"),
        KvError::Overflow => err("ERR increment or decrement would overflow"),
        KvError::KeyTooLarge => err("ERR key too large"),
        KvError::ValueTooLarge => err("ERR value too large"),
        KvError::ReplyTooLarge => err("ERR reply too large (max-reply-bytes); ask for fewer keys"),
        KvError::NotAFloat => err("ERR value is not a valid float"),
        KvError::NotFinite => err("ERR increment would produce NaN or Infinity"),
        KvError::NoSuchKey => err("ERR no such key"),
        // synod's value limit stands where Redis's proto-max-bulk-len does.
        KvError::StringTooLong => err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        KvError::WrongType => err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        KvError::FieldNotAnInteger => err("ERR hash value is not an integer"),
        KvError::FieldNotAFloat => err("ERR hash value is not a float"),
        _ => err("ERR malformed request"),
    }
}

pub(super) fn arity(name: &str) -> BytesFrame {
    err(&format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase()))
}

/// An integer argument, read as Redis reads one (no `+`, no leading zero).
pub(super) fn parse_i64(b: &Bytes) -> Result<i64, BytesFrame> {
    parse_integer(b).ok_or_else(|| err("ERR value is not an integer or out of range"))
}

pub(super) fn parse_u64(b: &Bytes) -> Result<u64, BytesFrame> {
    core::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("ERR value is not an integer or out of range"))
}

/// Runs one command; returns its reply and whether to keep the connection.
pub(crate) async fn execute(server: &Server, client: &mut Client, args: Vec<Bytes>) -> (BytesFrame, Next) {
    let started = server.runtime.now();
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let (reply, next) = answer(server, client, &name, &args[1..]).await;
    let took = server.runtime.now().saturating_duration_since(started).as_secs_f64();
    server.policy.stats.record(&name, matches!(reply, BytesFrame::Error(_)), took);
    (reply, next)
}

async fn answer(server: &Server, client: &mut Client, name: &str, rest: &[Bytes]) -> (BytesFrame, Next) {
    if name == "QUIT" {
        return (ok(), Next::Close);
    }
    // SYNOD.SEQ id seq COMMAND args: the inner command, in a session, with
    // the inner command's rights.
    let (name, rest, session) = match name {
        "SYNOD.SEQ" if client.principal.is_some() => match super::session::unwrap(rest) {
            Ok((session, inner, rest)) => (inner, rest, Some(session)),
            Err(e) => return (e, Next::Continue),
        },
        _ => (name.to_string(), rest, None),
    };
    let name = name.as_str();
    let access = access(name, rest);
    if let Some(why) = server.backend.failure()
        && !matches!(name, "INFO" | "SYNOD.STATUS")
    {
        return (err(&format!("ERR node stopped after a fatal error: {why}; restart it")), Next::Continue);
    }
    // Inside MULTI every other command is queued, and an error queueing
    // it (rights included, as Redis checks them) fails the transaction.
    let queueing = client.tx.is_some() && !transaction::is_control(name);
    let ctx = &mut Ctx { server, client, session, proposed: Default::default(), mode: Mode::Direct.into() };
    let answer = match &ctx.client.principal {
        None if access != Access::Anyone => Err(err("NOAUTH Authentication required.")),
        Some(p) if access == Access::Write && p.role == Role::ReadOnly => Err(err(&format!(
            "NOPERM User {} has no permissions to run the '{}' command",
            p.user,
            name.to_ascii_lowercase()
        ))),
        _ if queueing && ctx.session.is_some() => Err(err("ERR SYNOD.SEQ inside MULTI: number the EXEC instead")),
        _ if queueing => transaction::queue(ctx, name, rest).await,
        _ => dispatch(ctx, name, rest).await,
    };
    if queueing && answer.is_err() {
        transaction::fail(ctx);
    }
    (answer.unwrap_or_else(|e| e), Next::Continue)
}

/// [`dispatch`], boxed: a transaction's `EXEC` runs its queued commands
/// through it again.
pub(super) fn dispatch<'a>(
    ctx: &'a mut Ctx<'_>,
    name: &'a str,
    a: &'a [Bytes],
) -> core::pin::Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
    Box::pin(run(ctx, name, a))
}

async fn run(ctx: &mut Ctx<'_>, name: &str, a: &[Bytes]) -> Answer {
    if let Some(answer) = hashes::dispatch(ctx, name, a).await {
        return answer;
    }
    if let Some(answer) = strings::dispatch(ctx, name, a).await {
        return answer;
    }
    if let Some(answer) = keys::dispatch(ctx, name, a).await {
        return answer;
    }
    match (name, a.len()) {
        ("AUTH", 1) => auth(ctx, None, &a[0]),
        ("AUTH", 2) => auth(ctx, Some(&a[0]), &a[1]),
        ("PING", 0) => Ok(simple("PONG")),
        ("PING", 1) => Ok(bulk(a[0].clone())),
        ("ECHO", 1) => Ok(bulk(a[0].clone())),
        ("SELECT", 1) => match &a[0][..] {
            b"0" => Ok(ok()),
            _ => Err(err("ERR DB index is out of range")),
        },
        ("GET", 1) => match ctx.kv_query(KvQuery::Get { key: a[0].clone() }).await? {
            KvReply::Value(v) => Ok(opt(v)),
            _ => Err(err("ERR unexpected reply")),
        },
        ("MGET", n) if n >= 1 => match ctx.kv_query(KvQuery::MGet { keys: a.to_vec() }).await? {
            KvReply::Values(vs) => Ok(array(vs.into_iter().map(opt).collect())),
            _ => Err(err("ERR unexpected reply")),
        },
        // CAS key expected new: 1 if swapped. A missing key never matches.
        ("CAS", 3) => {
            let cmd = KvCommand::Cas { key: a[0].clone(), expected: Some(a[1].clone()), new: Some(a[2].clone()) };
            match ctx.kv(cmd, None).await? {
                KvReply::Bool(b) => Ok(int(i64::from(b))),
                _ => Err(err("ERR unexpected reply")),
            }
        }
        ("LEASE", n) if n >= 1 => lease(ctx, a).await,
        ("LOCK", 2) => lock(ctx, &a[0], &a[1], true).await,
        ("TRYLOCK", 2) => lock(ctx, &a[0], &a[1], false).await,
        ("UNLOCK", 3) => {
            let op = Op::Release {
                lock: a[0].clone(),
                lease: LeaseId(parse_u64(&a[1])?),
                token: FencingToken(parse_u64(&a[2])?),
            };
            match ctx.propose(op).await? {
                Reply::Ok => Ok(ok()),
                Reply::Error(e) => Err(err(&format!("ERR {e}"))),
                other => Err(err(&format!("ERR unexpected reply {other:?}"))),
            }
        }
        ("LOCKOWNER", 1) => match ctx.query(Query::LockOwner { lock: a[0].clone() }).await? {
            Reply::Owner(Some(o)) => Ok(array(vec![int(o.lease.0 as i64), int(o.token.0 as i64)])),
            Reply::Owner(None) => Ok(BytesFrame::Null),
            other => Err(err(&format!("ERR unexpected reply {other:?}"))),
        },
        ("INFO", _) => info(ctx).await,
        ("SYNOD.STATUS", 0) => crate::status::json(ctx.server).await.map(text).map_err(|e| client_error(e, None)),
        ("SYNOD.MEMBER", n) if n >= 1 => super::admin::member(ctx.server, ctx.client.caller().admin, a).await,
        ("SYNOD.LEADER", n) if n >= 1 => super::admin::leader(ctx.server, ctx.client.caller().admin, a).await,
        ("SYNOD.SESSION", n) if n >= 1 => super::session::session(ctx, a).await,
        ("SYNOD.BACKUP", n) if n >= 1 => {
            let admin = ctx.client.caller().admin;
            super::backup::backup(ctx.server, ctx.client, admin, a).await
        }
        // Redis Cluster's names for reading from a replica; here the reads
        // stay linearizable (Raft thesis §6.4), only the work moves.
        ("READONLY", 0) => {
            ctx.client.follower_reads = true;
            Ok(ok())
        }
        ("READWRITE", 0) => {
            ctx.client.follower_reads = false;
            Ok(ok())
        }
        ("CONFIG", n) if n >= 1 => {
            // CONFIG GET answers pairs: a map in RESP3.
            ctx.client.map_reply = a[0].eq_ignore_ascii_case(b"GET");
            config(a)
        }
        ("CLIENT", n) if n >= 1 => client(ctx, a),
        ("COMMAND", _) => {
            // RESP3 writes DOCS as a map of each command to its doc.
            ctx.client.map_reply = a.first().is_some_and(|s| s.eq_ignore_ascii_case(b"DOCS"));
            command(a)
        }
        ("HELLO", _) => hello(ctx, a),
        ("MULTI", 0) => transaction::multi(ctx),
        ("EXEC", 0) => transaction::exec(ctx).await,
        ("DISCARD", 0) => transaction::discard(ctx),
        ("WATCH", _) => transaction::watch(ctx, a).await,
        ("UNWATCH", 0) => transaction::unwatch(ctx),
        (
            "PING" | "ECHO" | "SELECT" | "GET" | "MGET" | "CAS" | "LEASE" | "LOCK" | "TRYLOCK" | "UNLOCK" | "LOCKOWNER"
            | "SYNOD.STATUS" | "CONFIG" | "CLIENT" | "AUTH" | "SYNOD.MEMBER" | "SYNOD.LEADER" | "SYNOD.BACKUP"
            | "SYNOD.SESSION" | "READONLY" | "READWRITE" | "MULTI" | "EXEC" | "DISCARD" | "UNWATCH",
            _,
        ) => Err(arity(name)),
        _ => Err(err(&format!("ERR unknown command '{}'", name.to_ascii_lowercase()))),
    }
}

/// AUTH [user] password.
fn auth(ctx: &mut Ctx<'_>, user: Option<&Bytes>, password: &Bytes) -> Answer {
    let users = &ctx.server.policy.users;
    if user.is_none() && !users.required() {
        return Err(err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your \
             configuration is correct?",
        ));
    }
    match users.login(user.map(|u| &u[..]), password) {
        Some(p) => {
            ctx.client.seen.update(|s| s.user.clone_from(&p.user));
            ctx.client.principal = Some(p);
            Ok(ok())
        }
        None => Err(err("WRONGPASS invalid username-password pair or user is disabled.")),
    }
}

/// HELLO [protover [AUTH user password] [SETNAME name]]: RESP2 or RESP3,
/// switched only once everything else in the call succeeded.
fn hello(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Answer {
    let proto = match a.first().map(|v| &v[..]) {
        None => None,
        Some(b"2") => Some(false),
        Some(b"3") => Some(true),
        Some(v) if super::commands::parse_i64(&Bytes::copy_from_slice(v)).is_err() => {
            return Err(err("ERR Protocol version is not an integer or out of range"));
        }
        Some(_) => return Err(err("NOPROTO unsupported protocol version")),
    };
    let mut i = 1;
    let mut name = None;
    while i < a.len() {
        match a[i].to_ascii_uppercase().as_slice() {
            b"AUTH" if a.len() >= i + 3 => {
                auth(ctx, Some(&a[i + 1]), &a[i + 2])?;
                i += 3;
            }
            b"SETNAME" if a.len() >= i + 2 => {
                name = Some(a[i + 1].clone());
                i += 2;
            }
            _ => return Err(err("ERR syntax error in HELLO option")),
        }
    }
    if ctx.client.principal.is_none() {
        return Err(err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH \
             <user> <pass> option can be used to authenticate the client and select the RESP protocol version at \
             the same time",
        ));
    }
    if let Some(name) = name {
        ctx.client.seen.update(|s| s.name = Some(name.clone()));
        ctx.client.name = Some(name);
    }
    if let Some(resp3) = proto {
        ctx.client.resp3 = resp3;
        ctx.client.seen.update(|s| s.resp3 = resp3);
    }
    let text = |s: &'static str| bulk(Bytes::from_static(s.as_bytes()));
    ctx.client.map_reply = true;
    Ok(array(vec![
        text("server"),
        text("synod"),
        text("version"),
        text(env!("CARGO_PKG_VERSION")),
        text("proto"),
        int(if ctx.client.resp3 { 3 } else { 2 }),
        text("id"),
        int(ctx.client.id as i64),
        text("mode"),
        text("standalone"),
        text("role"),
        text("master"),
        text("modules"),
        array(Vec::new()),
    ]))
}

/// LEASE GRANT ttl-ms | KEEPALIVE id | REVOKE id | TTL id | LIST
async fn lease(ctx: &Ctx<'_>, a: &[Bytes]) -> Answer {
    let sub = a[0].to_ascii_uppercase();
    let id = |i: usize| -> Result<LeaseId, BytesFrame> {
        a.get(i).ok_or_else(|| arity("lease")).and_then(parse_u64).map(LeaseId)
    };
    let reply = match sub.as_slice() {
        b"GRANT" if a.len() == 2 => {
            ctx.propose(Op::LeaseGrant { ttl: Duration::from_millis(parse_u64(&a[1])?) }).await?
        }
        b"KEEPALIVE" if a.len() == 2 => ctx.propose(Op::LeaseKeepAlive { lease: id(1)? }).await?,
        b"REVOKE" if a.len() == 2 => ctx.propose(Op::LeaseRevoke { lease: id(1)? }).await?,
        b"TTL" if a.len() == 2 => ctx.query(Query::LeaseTtl { lease: id(1)? }).await?,
        b"LIST" if a.len() == 1 => ctx.query(Query::Leases).await?,
        b"GRANT" | b"KEEPALIVE" | b"REVOKE" | b"TTL" | b"LIST" => return Err(arity("lease")),
        _ => return Err(err("ERR unknown LEASE subcommand (GRANT, KEEPALIVE, REVOKE, TTL, LIST)")),
    };
    match reply {
        Reply::Lease { id, .. } => Ok(int(id.0 as i64)),
        Reply::Ok => Ok(ok()),
        Reply::LeaseTtl(i) => Ok(int(i.remaining.unwrap_or(i.ttl).as_millis() as i64)),
        Reply::Leases(ls) => Ok(array(ls.into_iter().map(|l| int(l.id.0 as i64)).collect())),
        Reply::Error(e) => Err(err(&format!("ERR {e}"))),
        other => Err(err(&format!("ERR unexpected reply {other:?}"))),
    }
}

/// LOCK / TRYLOCK name lease-id: the fencing token if granted; nil if
/// queued (LOCK: ask again to learn when it is yours) or held (TRYLOCK).
async fn lock(ctx: &Ctx<'_>, name: &Bytes, lease: &Bytes, wait: bool) -> Answer {
    let lease = LeaseId(parse_u64(lease)?);
    let op =
        if wait { Op::Acquire { lock: name.clone(), lease } } else { Op::TryAcquire { lock: name.clone(), lease } };
    match ctx.propose(op).await? {
        Reply::Locked { token } => Ok(int(token.0 as i64)),
        Reply::Queued { .. } | Reply::Busy(_) => Ok(BytesFrame::Null),
        Reply::Error(e) => Err(err(&format!("ERR {e}"))),
        other => Err(err(&format!("ERR unexpected reply {other:?}"))),
    }
}

async fn info(ctx: &Ctx<'_>) -> Answer {
    let slots = &ctx.server.policy.slots;
    let clients = format!("# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n", slots.in_use(), slots.max());
    let server = format!("# Server\r\nredis_version:7.0.0\r\nsynod_version:{}\r\n", env!("CARGO_PKG_VERSION"));
    if let Some(why) = ctx.node().failure() {
        return Ok(reply::text(format!(
            "{server}node_state:failed\r\nnode_failure:{why}\r\nhealthy:0\r\nready:0\r\nhealth_reasons:the node stopped: {why}\r\n\r\n{clients}"
        )));
    }
    let s = ctx.node().status().await.map_err(|e| client_error(e, None))?;
    let role = if s.replica.role == synod_core::replica::Role::Leader { "master" } else { "slave" };
    let opt = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
    // The same verdict `/health` and `/ready` give.
    let now = (ctx.server.dir.clock)();
    let h =
        crate::health::assess(s.replica.id, crate::health::Observed::Status(&s, now), ctx.server.policy.health_window);
    let health = format!(
        "healthy:{}\r\nready:{}\r\nhealth_reasons:{}\r\nread_mode:{}\r\nconnection_reads:{}\r\n",
        u8::from(h.healthy),
        u8::from(h.ready),
        if h.reasons.is_empty() { "none".to_string() } else { h.reasons.join("; ") },
        ctx.server.policy.read_mode.name(),
        if ctx.client.follower_reads { ReadsAt::ThisNode } else { ReadsAt::Leader }.name(),
    );
    let text = format!(
        "{server}node_id:{}\r\nnode_state:ok\r\n{health}\r\n{clients}\r\n# Replication\r\nrole:{role}\r\nconnected_slaves:{}\r\n\r\n# Synod\r\nterm:{}\r\nleader:{}\r\ncommit_index:{}\r\napplied_index:{}\r\nsnapshot_index:{}\r\nin_flight:{}\r\n\r\n# Disk\r\ndisk_used_bytes:{}\r\ndisk_quota_bytes:{}\r\nalarm:{}\r\nalarm_reason:{}\r\n",
        s.replica.id,
        s.peers.len(),
        s.replica.term,
        s.replica.leader.map_or("none".to_string(), |l| l.to_string()),
        s.replica.commit,
        s.applied,
        s.replica.snapshot_index,
        s.in_flight,
        opt(s.disk.used_bytes),
        opt(s.disk.quota_bytes),
        if s.disk.alarm.is_some() { "NOSPACE" } else { "none" },
        s.disk.alarm.as_ref().map_or("none".to_string(), |a| a.to_string()),
    );
    Ok(reply::text(text))
}

/// Enough of CONFIG for clients and benchmarks that probe it.
fn config(a: &[Bytes]) -> Answer {
    match a[0].to_ascii_uppercase().as_slice() {
        b"GET" if a.len() == 2 => {
            let known: &[(&str, &str)] = &[("save", ""), ("appendonly", "yes"), ("databases", "1")];
            let pattern = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
            let mut out = Vec::new();
            for (k, v) in known {
                if pattern == "*" || pattern == *k {
                    out.push(bulk(Bytes::from_static(k.as_bytes())));
                    out.push(bulk(Bytes::from_static(v.as_bytes())));
                }
            }
            Ok(array(out))
        }
        b"SET" | b"RESETSTAT" | b"REWRITE" => Err(err("ERR CONFIG changes are not supported by synod")),
        _ => Err(arity("config")),
    }
}

fn client(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Answer {
    let c = &mut ctx.client;
    match a[0].to_ascii_uppercase().as_slice() {
        b"SETNAME" if a.len() == 2 => {
            if a[1].iter().any(|b| *b <= b' ' || *b > b'~') {
                return Err(err("ERR Client names cannot contain spaces, newlines or special characters."));
            }
            c.name = (!a[1].is_empty()).then(|| a[1].clone());
            let name = c.name.clone();
            c.seen.update(|s| s.name = name);
            Ok(ok())
        }
        b"SETINFO" | b"NO-EVICT" | b"NO-TOUCH" | b"REPLY" => Ok(ok()),
        b"GETNAME" => Ok(opt(c.name.clone())),
        b"ID" => Ok(int(c.id as i64)),
        b"INFO" if a.len() == 1 => Ok(text(c.seen.info())),
        // CLIENT LIST [TYPE normal] [ID id …]: every connection of this node.
        b"LIST" => {
            let mut ids = None;
            let mut i = 1;
            while i < a.len() {
                match a[i].to_ascii_uppercase().as_slice() {
                    b"TYPE" if a.get(i + 1).is_some_and(|t| t.eq_ignore_ascii_case(b"normal")) => i += 2,
                    b"ID" if a.len() > i + 1 => {
                        let parsed: Result<Vec<u64>, _> = a[i + 1..].iter().map(parse_u64).collect();
                        ids = Some(parsed.map_err(|_| err("ERR Invalid client ID"))?);
                        i = a.len();
                    }
                    _ => return Err(err("ERR syntax error")),
                }
            }
            Ok(text(ctx.server.clients.list(ids.as_deref())))
        }
        _ => Err(err("ERR unknown CLIENT subcommand")),
    }
}

/// COMMAND [COUNT | LIST | INFO name... | DOCS name...]: what [`catalog`]
/// lists; another subcommand is an error, as in Redis.
fn command(a: &[Bytes]) -> Answer {
    match a.first().map(|s| s.to_ascii_uppercase()).as_deref() {
        None => Ok(array(catalog::COMMANDS.iter().map(catalog::info).collect())),
        Some(b"COUNT") if a.len() == 1 => Ok(int(catalog::COMMANDS.len() as i64)),
        Some(b"LIST") if a.len() == 1 => {
            Ok(array(catalog::COMMANDS.iter().map(|e| bulk(Bytes::from_static(e.name.as_bytes()))).collect()))
        }
        Some(b"INFO") => Ok(array(
            a[1..]
                .iter()
                .map(|n| catalog::find(&String::from_utf8_lossy(n)).map_or(BytesFrame::Null, catalog::info))
                .collect(),
        )),
        // Redis answers name, doc, name, doc… (a map in RESP3); a name
        // not served is left out, as Redis leaves out unknown ones.
        Some(b"DOCS") => {
            let wanted: Vec<&catalog::Entry> = if a.len() == 1 {
                catalog::COMMANDS.iter().collect()
            } else {
                a[1..].iter().filter_map(|n| catalog::find(&String::from_utf8_lossy(n))).collect()
            };
            Ok(array(wanted.into_iter().flat_map(catalog::docs).collect()))
        }
        _ => Err(err("ERR unknown subcommand or wrong number of arguments for 'COMMAND'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_catalog_calls_read_only_needs_only_read_rights() {
        for e in catalog::COMMANDS {
            let needs = access(&e.name.to_ascii_uppercase(), &[]);
            let fits = if e.write { needs == Access::Write } else { needs != Access::Write };
            assert!(fits, "{} is listed write={} but needs {needs:?}", e.name, e.write);
        }
    }
}
