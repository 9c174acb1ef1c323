//! A 3-member etcd on loopback as a [`Target`], with the flags and ports of
//! `/work/shared/tools/etcd3.sh` (client ports 12379, 22379, 32379), but
//! members started one by one by the harness so that one can be killed and
//! restarted on its data. Clients speak JSON to etcd's gRPC gateway.

use super::Target;
use super::http::{Http, HttpError, base64, unbase64};
use super::writers::Session;
use crate::history::{Key, Op, Outcome, Ret, Value};
use core::net::SocketAddr;
use core::time::Duration;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// etcd's default `--election-timeout`.
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

const MEMBERS: u64 = 3;

fn client_addr(i: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], (i * 10_000 + 2379) as u16))
}

fn peer_url(i: u64) -> String {
    format!("http://127.0.0.1:{}", i * 10_000 + 2380)
}

/// A 3-member etcd cluster. Dropping it kills every member it started.
pub struct Etcd {
    binary: PathBuf,
    dir: PathBuf,
    members: BTreeMap<u64, Option<Child>>,
}

impl Etcd {
    /// Prepares an empty `dir`; starts nothing. Fails if a port is taken.
    pub fn new(binary: PathBuf, dir: PathBuf) -> Result<Etcd, String> {
        for i in 1..=MEMBERS {
            for port in [client_addr(i).port(), client_addr(i).port() + 1] {
                TcpListener::bind(("127.0.0.1", port))
                    .map_err(|e| format!("port {port} is taken ({e}): is another etcd running?"))?;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Etcd { binary, dir, members: (1..=MEMBERS).map(|i| (i, None)).collect() })
    }

    fn pid(&self, i: u64) -> Option<u32> {
        self.members.get(&i)?.as_ref().map(Child::id)
    }

    fn signal(pid: u32, sig: &str) {
        let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
    }
}

impl Target for Etcd {
    fn name(&self) -> String {
        let version = Command::new(&self.binary).arg("--version").output().ok();
        let version = version.and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
        let version = version.lines().next().unwrap_or("etcd").trim().to_string();
        format!("etcd ({version})")
    }

    fn members(&self) -> u64 {
        MEMBERS
    }

    fn election_timeout(&self) -> Duration {
        ELECTION_TIMEOUT
    }

    fn increments(&self) -> bool {
        false
    }

    fn start(&mut self, i: u64) -> Result<(), String> {
        if self.pid(i).is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("m{i}.log")))
            .map_err(|e| e.to_string())?;
        let cluster: Vec<String> = (1..=MEMBERS).map(|j| format!("m{j}={}", peer_url(j))).collect();
        let client = format!("http://{}", client_addr(i));
        // A restart on an existing data directory ignores the bootstrap flags.
        let child = Command::new(&self.binary)
            .args(["--name", &format!("m{i}")])
            .arg("--data-dir")
            .arg(self.dir.join(format!("m{i}")))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer_url(i), "--initial-advertise-peer-urls", &peer_url(i)])
            .args(["--initial-cluster", &cluster.join(","), "--initial-cluster-state", "new", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting etcd member {i}: {e}"))?;
        self.members.insert(i, Some(child));
        Ok(())
    }

    fn kill(&mut self, i: u64) {
        if let Some(mut c) = self.members.get_mut(&i).and_then(Option::take) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn pause(&mut self, i: u64, paused: bool) {
        if let Some(pid) = self.pid(i) {
            Etcd::signal(pid, if paused { "-STOP" } else { "-CONT" });
            if paused {
                super::wait_stopped(pid);
            }
        }
    }

    fn leader(&self) -> Option<u64> {
        (1..=MEMBERS).filter(|i| self.pid(*i).is_some()).find(|&i| {
            let mut http = Http::new(client_addr(i), Duration::from_millis(500));
            let Ok((200, body)) = http.post("/v3/maintenance/status", "{}") else { return false };
            let Ok(status) = serde_json::from_str::<Json>(&body) else { return false };
            let leader = status.get("leader");
            leader.is_some() && leader == status.get("header").and_then(|h| h.get("member_id"))
        })
    }

    fn session(&self, node: u64, timeout: Duration) -> Box<dyn Session> {
        Box::new(Gateway { http: Http::new(client_addr(node), timeout) })
    }

    fn read(&self, key: Key) -> Result<Option<Value>, String> {
        let mut last = String::new();
        for attempt in 0..60 {
            let mut g = Gateway { http: Http::new(client_addr(1 + attempt % MEMBERS), Duration::from_secs(2)) };
            match g.get(key) {
                Ok(v) => return Ok(v),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in self.members.values_mut() {
            if let Some(mut c) = c.take() {
                // A stopped process must be resumed to die promptly.
                Etcd::signal(c.id(), "-CONT");
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn etcd_key(k: Key) -> String {
    base64(format!("failover/k{k}").as_bytes())
}

/// A client of one member through its JSON gateway.
struct Gateway {
    http: Http,
}

impl Gateway {
    /// A linearizable read (the gateway's default range is not serializable).
    fn get(&mut self, k: Key) -> Result<Option<Value>, String> {
        let (status, body) =
            self.http.post("/v3/kv/range", &json!({ "key": etcd_key(k) }).to_string()).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        let doc: Json = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let Some(kv) = doc.get("kvs").and_then(|k| k.get(0)) else { return Ok(None) };
        let value = kv.get("value").and_then(Json::as_str).and_then(unbase64).ok_or("value is not base64")?;
        let value = String::from_utf8(value).map_err(|e| e.to_string())?;
        value.parse().map(Some).map_err(|_| format!("value {value:?} is not a number"))
    }
}

/// Gateway errors that prove the request was never proposed.
fn never_applied(body: &str) -> bool {
    ["no leader", "proposal dropped", "too many requests"].iter().any(|s| body.contains(s))
}

impl Session for Gateway {
    fn execute(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Set(k, v) => {
                let body = json!({ "key": etcd_key(*k), "value": base64(v.to_string().as_bytes()) }).to_string();
                match self.http.post("/v3/kv/put", &body) {
                    Ok((200, _)) => Outcome::Ok(Ret::Done),
                    Ok((_, body)) if never_applied(&body) => Outcome::Failed,
                    Ok(_) | Err(HttpError::Io(_) | HttpError::Malformed(_)) => Outcome::Unknown,
                    Err(HttpError::Connect(_)) => Outcome::Failed,
                }
            }
            Op::Get(k) => self.get(*k).map_or(Outcome::Unknown, |v| Outcome::Ok(Ret::Value(v))),
            // The writers use no other operation against etcd.
            _ => Outcome::Failed,
        }
    }
}
