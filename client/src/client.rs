//! The client: one connection at a time to one endpoint, every call
//! retried until answered or out of budget, every write numbered in a
//! session so a retry is never applied twice.

use crate::conn::Conn;
use crate::{Config, Error};
use bytes::Bytes;
use core::time::Duration;
use futures::future::{Either, select};
use futures::lock::Mutex;
use redis_protocol::resp2::types::BytesFrame;
use std::sync::Arc;
use synod_core::rand::Rng;
use synod_core::time::Instant;
use synod_net::runtime::Runtime;
use synod_net::stream::Connector;

/// A client of a synod cluster. Calls on one client run one at a time
/// (a session has one write in flight); for parallel work, make several.
pub struct Client {
    pub(crate) cfg: Config,
    pub(crate) runtime: Arc<dyn Runtime>,
    connector: Arc<dyn Connector>,
    state: Mutex<State>,
    /// With [`crate::Reads::Spread`]: the read connections and balancer.
    spread: Option<Arc<crate::reads::Spread>>,
}

struct State {
    conn: Option<Conn>,
    /// The endpoint to try next when no leader is named.
    next: usize,
    /// The leader's address, once a node named it.
    leader: Option<String>,
    /// The session and the number of the next write in it.
    session: Option<(u64, u64)>,
    rng: Rng,
}

/// How a call ended, inside the retry loop.
enum Fail {
    /// The session is gone (expired, evicted or closed).
    SessionGone,
    /// Anything else, for the caller.
    Error(Error),
}

/// What one reply means.
pub(crate) enum Verdict {
    Answer(BytesFrame),
    /// Try again, at the named leader if any; `switch`: elsewhere.
    Retry {
        why: String,
        leader: Option<String>,
        switch: bool,
    },
    SessionGone,
    Refused(String),
}

impl Client {
    /// A client for the cluster at `cfg.endpoints`, on this runtime and
    /// dialer (the tokio or smol adapter's, or TLS over either).
    pub fn new(cfg: Config, runtime: Arc<dyn Runtime>, connector: Arc<dyn Connector>) -> Result<Client, Error> {
        if cfg.endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        let state = State { conn: None, next: 0, leader: None, session: None, rng: Rng::with_seed(cfg.seed) };
        let spread = (cfg.reads == crate::Reads::Spread).then(|| {
            let spread = Arc::new(crate::reads::Spread::new(cfg.endpoints.len(), cfg.seed, runtime.now()));
            let probe = crate::reads::probe(spread.clone(), cfg.clone(), runtime.clone(), connector.clone());
            runtime.spawn(Box::pin(probe));
            spread
        });
        Ok(Client { cfg, runtime, connector, state: Mutex::new(state), spread })
    }

    /// Which endpoints the client's failure detector suspects now (with
    /// [`crate::Reads::Spread`]; empty otherwise): suspected ones get no
    /// reads until they answer probes again.
    pub fn suspected(&self) -> Vec<bool> {
        self.spread.as_ref().map_or_else(Vec::new, |s| s.suspected(self.runtime.now()))
    }

    /// How many reads each endpoint answered through the balancer (with
    /// [`crate::Reads::Spread`]; empty otherwise).
    pub fn reads_served(&self) -> Vec<u64> {
        self.spread
            .as_ref()
            .map_or_else(Vec::new, |s| s.served.iter().map(|n| n.load(core::sync::atomic::Ordering::Relaxed)).collect())
    }

    /// The endpoint the client is connected to, if any.
    pub async fn endpoint(&self) -> Option<String> {
        self.state.lock().await.conn.as_ref().map(|c| c.addr.clone())
    }

    /// The session the client's writes go in, if one is open.
    pub async fn session(&self) -> Option<u64> {
        self.state.lock().await.session.map(|(id, _)| id)
    }

    /// `GET key`: linearizable.
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>, Error> {
        match self.read(vec![b("GET"), key.into()]).await? {
            BytesFrame::Null => Ok(None),
            BytesFrame::BulkString(v) => Ok(Some(v)),
            other => Err(unexpected(&other)),
        }
    }

    /// `SET key value`, with a time to live if given; exactly once.
    pub async fn set(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        let mut args = vec![b("SET"), key.into(), value.into()];
        if let Some(ttl) = ttl {
            args.extend([b("PX"), Bytes::from(ttl.as_millis().max(1).to_string())]);
        }
        match self.write(args).await? {
            BytesFrame::SimpleString(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `CAS key expected new`: true if the value was `expected` and is now
    /// `new`; exactly once.
    pub async fn cas(
        &self,
        key: impl Into<Bytes>,
        expected: impl Into<Bytes>,
        new: impl Into<Bytes>,
    ) -> Result<bool, Error> {
        integer(self.write(vec![b("CAS"), key.into(), expected.into(), new.into()]).await?).map(|n| n == 1)
    }

    /// `INCRBY key by`: the new value; exactly once.
    pub async fn incr_by(&self, key: impl Into<Bytes>, by: i64) -> Result<i64, Error> {
        integer(self.write(vec![b("INCRBY"), key.into(), Bytes::from(by.to_string())]).await?)
    }

    /// `INCR key`: the new value; exactly once.
    pub async fn incr(&self, key: impl Into<Bytes>) -> Result<i64, Error> {
        self.incr_by(key, 1).await
    }

    /// `APPEND key value`: the value's new length; exactly once.
    pub async fn append(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<u64, Error> {
        integer(self.write(vec![b("APPEND"), key.into(), value.into()]).await?).map(|n| n as u64)
    }

    /// `DEL key …`: how many existed; exactly once.
    pub async fn del(&self, keys: impl IntoIterator<Item = impl Into<Bytes>>) -> Result<u64, Error> {
        let mut args = vec![b("DEL")];
        args.extend(keys.into_iter().map(Into::into));
        integer(self.write(args).await?).map(|n| n as u64)
    }

    /// Closes the client's session, if one is open: its saved reply is
    /// freed now rather than when it idles out.
    pub async fn close(&self) -> Result<(), Error> {
        let mut st = self.state.lock().await;
        if let Some((id, _)) = st.session.take() {
            let args = [b("SYNOD.SESSION"), b("CLOSE"), Bytes::from(id.to_string())];
            self.run(&mut st, &args, self.cfg.retry_budget).await.map_err(fail)?;
        }
        Ok(())
    }

    /// A read: spread over the nodes if configured, else through the
    /// main connection.
    async fn read(&self, args: Vec<Bytes>) -> Result<BytesFrame, Error> {
        match &self.spread {
            Some(spread) => self.spread_read(spread, &args).await,
            None => self.read_leader(args).await,
        }
    }

    /// A read through the main connection: retried as it is, since it
    /// changes nothing.
    pub(crate) async fn read_leader(&self, args: Vec<Bytes>) -> Result<BytesFrame, Error> {
        let mut st = self.state.lock().await;
        self.run(&mut st, &args, self.cfg.retry_budget).await.map_err(fail)
    }

    /// A write, as the next command of the client's session (opened the
    /// first time): every retry carries the same number, so the cluster
    /// applies it once (Raft thesis §6.3).
    pub(crate) async fn write(&self, args: Vec<Bytes>) -> Result<BytesFrame, Error> {
        self.write_within(args, self.cfg.retry_budget).await
    }

    /// The same, giving up after `budget`.
    pub(crate) async fn write_within(&self, args: Vec<Bytes>, budget: Duration) -> Result<BytesFrame, Error> {
        let mut st = self.state.lock().await;
        let (id, seq) = match st.session {
            Some(s) => s,
            None => {
                // A retried open may open a second session; the spare one
                // idles out, holding nothing.
                match self.run(&mut st, &[b("SYNOD.SESSION"), b("OPEN")], budget).await.map_err(fail)? {
                    BytesFrame::Integer(id) if id > 0 => (id as u64, 1),
                    other => return Err(unexpected(&other)),
                }
            }
        };
        st.session = Some((id, seq + 1));
        let mut full = vec![b("SYNOD.SEQ"), Bytes::from(id.to_string()), Bytes::from(seq.to_string())];
        full.extend(args);
        match self.run(&mut st, &full, budget).await {
            Ok(reply) => Ok(reply),
            Err(Fail::SessionGone) => {
                st.session = None;
                Err(Error::MaybeApplied)
            }
            Err(Fail::Error(e)) => Err(e),
        }
    }

    /// Sends `args` until a node answers, the server refuses it, or the
    /// retry budget is spent.
    async fn run(&self, st: &mut State, args: &[Bytes], budget: Duration) -> Result<BytesFrame, Fail> {
        let deadline = self.runtime.now() + budget;
        let mut attempt = 0u32;
        loop {
            let why = match self.attempt(st, args).await {
                Ok(reply) => match classify(reply) {
                    Verdict::Answer(frame) => return Ok(frame),
                    Verdict::SessionGone => return Err(Fail::SessionGone),
                    Verdict::Refused(why) => return Err(Fail::Error(Error::Refused(why))),
                    Verdict::Retry { why, leader, switch } => {
                        if let Some(addr) = leader.filter(|a| st.conn.as_ref().is_none_or(|c| c.addr != *a)) {
                            st.leader = Some(addr);
                            st.conn = None;
                        } else if switch {
                            st.forget();
                        }
                        why
                    }
                },
                Err(e) => {
                    st.forget();
                    e
                }
            };
            let now = self.runtime.now();
            if now >= deadline {
                return Err(Fail::Error(Error::Unavailable(budget, why)));
            }
            tracing::debug!(attempt, %why, "retrying");
            let pause = st.backoff(&self.cfg, attempt);
            self.runtime.sleep_until((now + pause).min(deadline)).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One try: connect if need be, send, read the reply, within the
    /// attempt timeout. A failed try leaves no connection behind (a late
    /// reply on it would answer the next command).
    async fn attempt(&self, st: &mut State, args: &[Bytes]) -> Result<BytesFrame, String> {
        let until = self.runtime.now() + self.cfg.attempt_timeout;
        if st.conn.is_none() {
            let addr =
                st.leader.clone().unwrap_or_else(|| self.cfg.endpoints[st.next % self.cfg.endpoints.len()].clone());
            let conn = self.timed(until, self.connect(addr.clone())).await.map_err(|e| format!("{addr}: {e}"))?;
            st.conn = Some(conn);
        }
        let conn = st.conn.as_mut().expect("connected above");
        let addr = conn.addr.clone();
        let reply = {
            let call = conn.call(args);
            self.timed(until, async { call.await.map_err(|e| e.to_string()) }).await
        };
        reply.map_err(|e| format!("{addr}: {e}"))
    }

    pub(crate) async fn connect(&self, addr: String) -> Result<Conn, String> {
        dial(self.connector.as_ref(), &self.cfg, addr).await
    }

    /// `fut`, or an error once `until` passes.
    pub(crate) async fn timed<T>(
        &self,
        until: Instant,
        fut: impl core::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        match select(core::pin::pin!(fut), self.runtime.sleep_until(until)).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err("no answer within the attempt timeout".to_string()),
        }
    }
}

impl State {
    /// Drops the connection and moves to the next endpoint: the node it
    /// went to is gone, or stopped serving.
    fn forget(&mut self) {
        self.conn = None;
        self.leader = None;
        self.next = self.next.wrapping_add(1);
    }

    /// The pause before retry `attempt`: the doubled backoff, drawn from
    /// its upper half.
    fn backoff(&mut self, cfg: &Config, attempt: u32) -> Duration {
        let full = cfg.base_backoff.saturating_mul(1u32 << attempt.min(20)).min(cfg.max_backoff);
        self.rng.duration(full / 2, full)
    }
}

/// Reads a reply: an answer, a refusal, or a reason to try again. The
/// retryable errors are the node's own (see `synod`'s RESP front end):
/// none of them applied anything that a session would not catch.
pub(crate) fn classify(reply: BytesFrame) -> Verdict {
    let BytesFrame::Error(e) = &reply else { return Verdict::Answer(reply) };
    let e = e.to_string();
    if e.starts_with("SESSIONGONE") {
        return Verdict::SessionGone;
    }
    let retry = |switch: bool| {
        let leader = e.split_once("leader is at ").map(|(_, addr)| addr.trim().to_string());
        Verdict::Retry { why: e.clone(), leader, switch }
    };
    match () {
        () if e.starts_with("BUSY") => retry(false),
        () if e.starts_with("ERR node shutting down") || e.starts_with("ERR node stopped") => retry(true),
        () if [
            "ERR timeout",
            "ERR leader changed",
            "ERR not the leader",
            "ERR no leader",
            "ERR leadership changed",
        ]
        .iter()
        .any(|p| e.starts_with(p)) =>
        {
            retry(false)
        }
        () => Verdict::Refused(e),
    }
}

/// A connection to `addr`, authenticated as `cfg` says.
pub(crate) async fn dial(connector: &dyn Connector, cfg: &Config, addr: String) -> Result<Conn, String> {
    let stream = connector.connect(&addr).await.map_err(|e| e.to_string())?;
    let mut conn = Conn::new(stream, addr, cfg.max_reply_bytes);
    if let Some((user, password)) = &cfg.auth {
        let args = [b("AUTH"), Bytes::from(user.clone()), Bytes::from(password.clone())];
        match conn.call(&args).await.map_err(|e| e.to_string())? {
            BytesFrame::SimpleString(_) => {}
            other => return Err(format!("AUTH refused: {}", text(&other))),
        }
    }
    Ok(conn)
}

fn fail(f: Fail) -> Error {
    match f {
        Fail::SessionGone => Error::Protocol("a session error outside a session".into()),
        Fail::Error(e) => e,
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn integer(f: BytesFrame) -> Result<i64, Error> {
    match f {
        BytesFrame::Integer(n) => Ok(n),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(f: &BytesFrame) -> Error {
    Error::Protocol(text(f))
}

fn text(f: &BytesFrame) -> String {
    match f {
        BytesFrame::SimpleString(s) | BytesFrame::BulkString(s) => String::from_utf8_lossy(s).into_owned(),
        BytesFrame::Error(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(s: &str) -> BytesFrame {
        BytesFrame::Error(s.into())
    }

    #[test]
    fn a_redirect_names_the_leader_and_a_refusal_is_not_retried() {
        match classify(error(
            "ERR leader changed; the command may or may not have been applied; leader is at 127.0.0.1:7001",
        )) {
            Verdict::Retry { leader, switch: false, .. } => assert_eq!(leader.as_deref(), Some("127.0.0.1:7001")),
            _ => panic!("not retried"),
        }
        assert!(matches!(
            classify(error("ERR node stopped after a fatal error: x; restart it")),
            Verdict::Retry { switch: true, .. }
        ));
        assert!(matches!(classify(error("BUSY node overloaded; retry later")), Verdict::Retry { .. }));
        assert!(matches!(
            classify(error("ERR timeout: the command may or may not have been applied")),
            Verdict::Retry { .. }
        ));
        assert!(matches!(classify(error("SESSIONGONE session expired")), Verdict::SessionGone));
        assert!(matches!(classify(error("WRONGTYPE Operation against a key")), Verdict::Refused(_)));
        assert!(matches!(classify(error("NOPERM the session belongs to another user")), Verdict::Refused(_)));
        assert!(matches!(classify(BytesFrame::Integer(3)), Verdict::Answer(BytesFrame::Integer(3))));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let cfg = Config::new(["x:1"]).with_seed(7);
        let mut st = State { conn: None, next: 0, leader: None, session: None, rng: Rng::with_seed(7) };
        for attempt in 0..30 {
            let full = (cfg.base_backoff * (1 << attempt.min(20))).min(cfg.max_backoff);
            let pause = st.backoff(&cfg, attempt);
            assert!(pause >= full / 2 && pause < full, "attempt {attempt}: {pause:?} of {full:?}");
        }
    }
}
