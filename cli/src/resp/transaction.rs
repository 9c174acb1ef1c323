//! `MULTI` / `EXEC` / `DISCARD` and `WATCH` / `UNWATCH`: a Redis
//! transaction as one log entry ([`synod_core::service::transaction`]).
//!
//! While a connection is in `MULTI`, each command is checked as Redis
//! checks it when queueing (known, right arity, allowed to this user and
//! inside a transaction) and then run in *capture* mode: the store call it
//! would make is recorded as a step instead of being made. `EXEC` proposes
//! every step, and the watched keys' versions, as one command; then each
//! queued command runs again in *replay* mode, where its store call is
//! answered with its step's reply, so its answer is built by the same code
//! as outside a transaction. Every command makes at most one store call,
//! so a command is one step.
//!
//! Redis's rules: an error while queueing answers that error and makes
//! `EXEC` refuse the whole transaction (`EXECABORT`); an error while
//! running is that command's entry in `EXEC`'s answer, the others run; a
//! watched key changed since `WATCH` makes `EXEC` answer nil and run
//! nothing. `WATCH` reads versions linearizably, so a change committed
//! before it returned never aborts the transaction, and one after always
//! does.
//!
//! Not allowed inside a transaction (an error, and `EXECABORT`): commands
//! that change the connection (`AUTH`, `HELLO`, `CLIENT`, `READONLY`,
//! `READWRITE`), administration and sessions (`SYNOD.*`, `CONFIG`), and
//! locks or ending a lease (every fencing token of an entry is its index).

use super::catalog;
use super::commands::{Answer, Ctx, arity};
use super::reply::{array, err, ok, simple};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use synod_core::service::transaction::{MAX_STEPS, MAX_WATCHED};
use synod_core::service::{Op, Query, Reply, Step, Transaction, Watched};

/// A connection's transaction since `MULTI`.
#[derive(Default)]
pub(crate) struct Queue {
    /// The queued commands: name and arguments, and the index of their
    /// step if they make a store call.
    commands: Vec<(String, Vec<Bytes>, Option<usize>)>,
    steps: Vec<Step>,
    /// Argument bytes queued, bounded by the request limit.
    bytes: usize,
    /// An error while queueing: `EXEC` will refuse.
    failed: bool,
}

/// What a store call does in a transaction.
pub(super) enum Mode {
    /// Outside one: made.
    Direct,
    /// Queueing: recorded, or refused (not allowed in a transaction).
    Capture(Option<Result<Step, BytesFrame>>),
    /// `EXEC`: answered with the step's reply.
    Replay(Option<Reply>),
}

/// The commands that act on the transaction itself, run at once even
/// inside one.
pub(super) fn is_control(name: &str) -> bool {
    matches!(name, "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "QUIT")
}

/// Commands refused inside a transaction: they change the connection, or
/// reach past the store.
fn not_allowed(name: &str) -> bool {
    matches!(name, "AUTH" | "HELLO" | "CLIENT" | "READONLY" | "READWRITE" | "CONFIG") || name.starts_with("SYNOD.")
}

fn refused_inside() -> BytesFrame {
    err("ERR Command not allowed inside a transaction")
}

impl Mode {
    /// In a transaction, the answer to a store call of `step` (recorded,
    /// or replayed); outside, `None`: make it.
    pub(super) fn intercept(&mut self, step: impl FnOnce() -> Step) -> Option<Result<Reply, BytesFrame>> {
        match self {
            Mode::Direct => None,
            Mode::Capture(slot) => {
                let step = step();
                *slot = Some(match (&slot, &step) {
                    (Some(_), _) => Err(err("ERR internal: two store calls in one queued command")),
                    (None, Step::Write(op)) if !Transaction::allows(op) => Err(refused_inside()),
                    (None, _) => Ok(step),
                });
                // Discarded: a queued command is answered QUEUED.
                Some(Err(simple("QUEUED")))
            }
            Mode::Replay(reply) => Some(reply.take().ok_or_else(|| err("ERR internal: no reply for this command"))),
        }
    }
}

/// `MULTI`.
pub(super) fn multi(ctx: &mut Ctx<'_>) -> Answer {
    if ctx.client.tx.is_some() {
        return Err(err("ERR MULTI calls can not be nested"));
    }
    ctx.client.tx = Some(Queue::default());
    Ok(ok())
}

/// `DISCARD`: forgets the queue and the watched keys.
pub(super) fn discard(ctx: &mut Ctx<'_>) -> Answer {
    if ctx.client.tx.take().is_none() {
        return Err(err("ERR DISCARD without MULTI"));
    }
    ctx.client.watched.clear();
    Ok(ok())
}

/// `WATCH key …`: reads the keys' versions, to be checked at `EXEC`.
pub(super) async fn watch(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> Answer {
    if ctx.client.tx.is_some() {
        return Err(err("ERR WATCH inside MULTI is not allowed"));
    }
    if keys.is_empty() {
        return Err(arity("watch"));
    }
    if ctx.client.watched.len() + keys.len() > MAX_WATCHED {
        return Err(err(&format!("ERR at most {MAX_WATCHED} keys may be watched")));
    }
    match ctx.query(Query::Versions { keys: keys.to_vec() }).await? {
        Reply::Versions(vs) if vs.len() == keys.len() => {
            let watched = keys.iter().zip(vs).map(|(k, version)| Watched { key: k.clone(), version });
            ctx.client.watched.extend(watched);
            Ok(ok())
        }
        other => Err(err(&format!("ERR unexpected reply {other:?}"))),
    }
}

/// `UNWATCH`: forgets the watched keys (queued inside a transaction, where
/// `EXEC` forgets them anyway).
pub(super) fn unwatch(ctx: &mut Ctx<'_>) -> Answer {
    if matches!(*ctx.mode(), Mode::Direct) {
        ctx.client.watched.clear();
    }
    Ok(ok())
}

/// Queues a command inside `MULTI`: its checks, then its store call
/// captured. `Err` makes `EXEC` refuse.
pub(super) async fn queue(ctx: &mut Ctx<'_>, name: &str, rest: &[Bytes]) -> Answer {
    if not_allowed(name) {
        return Err(refused_inside());
    }
    let Some(entry) = catalog::find(name) else {
        return Err(err(&format!("ERR unknown command '{}'", name.to_ascii_lowercase())));
    };
    if !super::keys::fits(entry, rest.len()) {
        return Err(arity(name));
    }
    let limit = ctx.server.policy.limits.parse.max_request;
    let queue = ctx.client.tx.as_ref().map_or(0, |q| q.commands.len());
    let bytes = ctx.client.tx.as_ref().map_or(0, |q| q.bytes) + rest.iter().map(Bytes::len).sum::<usize>();
    if queue >= MAX_STEPS || bytes > limit {
        return Err(err(&format!(
            "ERR transaction too large: at most {MAX_STEPS} commands and {limit} bytes of arguments"
        )));
    }
    *ctx.mode() = Mode::Capture(None);
    let _ = super::commands::dispatch(ctx, name, rest).await;
    let captured = match core::mem::replace(&mut *ctx.mode(), Mode::Direct) {
        Mode::Capture(c) => c.transpose()?,
        _ => None,
    };
    let Some(q) = ctx.client.tx.as_mut() else { return Err(err("ERR internal: no transaction")) };
    let step = captured.map(|s| {
        q.steps.push(s);
        q.steps.len() - 1
    });
    q.commands.push((name.to_string(), rest.to_vec(), step));
    q.bytes = bytes;
    Ok(simple("QUEUED"))
}

/// Marks the transaction failed after an error while queueing.
pub(super) fn fail(ctx: &mut Ctx<'_>) {
    if let Some(q) = ctx.client.tx.as_mut() {
        q.failed = true;
    }
}

/// `EXEC`: one proposal of every step, then each command's answer from
/// its step's reply.
pub(super) async fn exec(ctx: &mut Ctx<'_>) -> Answer {
    let Some(q) = ctx.client.tx.take() else { return Err(err("ERR EXEC without MULTI")) };
    let watch = core::mem::take(&mut ctx.client.watched);
    if q.failed {
        return Err(err("EXECABORT Transaction discarded because of previous errors."));
    }
    // Nothing to check and nothing stored: no entry needed.
    let mut replies = match (watch.is_empty(), q.steps.is_empty()) {
        (true, true) => Vec::new(),
        _ => match ctx.propose(Op::Exec(Transaction { watch, steps: q.steps })).await? {
            Reply::Exec(Some(replies)) => replies,
            Reply::Exec(None) => return Ok(BytesFrame::Null),
            Reply::Error(e) => return Err(err(&format!("ERR {e}"))),
            other => return Err(err(&format!("ERR unexpected reply {other:?}"))),
        },
    }
    .into_iter();
    let mut answers = Vec::with_capacity(q.commands.len());
    for (name, args, step) in q.commands {
        *ctx.mode() = Mode::Replay(step.and_then(|_| replies.next()));
        let answer = super::commands::dispatch(ctx, &name, &args).await;
        // Shapes are the whole reply's, never one queued command's.
        ctx.client.map_reply = false;
        answers.push(answer.unwrap_or_else(|e| e));
    }
    *ctx.mode() = Mode::Direct;
    Ok(array(answers))
}
