//! Starting `synod` processes for integration tests, and talking to them
//! with a real Redis client library.

#![allow(dead_code)]

use core::time::Duration;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A free block of `n` consecutive ports on loopback, below the kernel's
/// ephemeral range: a port is free here only until the server binds it,
/// and a port from the ephemeral range could meanwhile be handed to some
/// other process's `bind(0)` — the peer ports of a cluster another test
/// starts — so that server would fail to start.
pub fn free_ports(n: u16) -> u16 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (floor, span) = (10_000u16, low.saturating_sub(10_000 + n).max(1000));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut x = (nanos ^ (u64::from(std::process::id()) << 20) ^ (CALLS.fetch_add(1, Ordering::Relaxed) << 40)) | 1;
    for _ in 0..500 {
        // xorshift: a different block on every try, call and process.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let base = floor + (x % u64::from(span)) as u16;
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port block");
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory for test `name`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("synod-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) on drop, so a failing test leaves
/// nothing behind.
pub struct Proc(pub Child);

impl Proc {
    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `synod cluster` on `data` with RESP from `port`.
pub fn cluster(data: &Path, port: u16, nodes: u16) -> Proc {
    cluster_with(data, port, nodes, &[])
}

/// The binary under test: this build's, or `SYNOD_BIN` (to run a test
/// against another build, say the previous main, and see it fail there).
pub fn bin() -> PathBuf {
    std::env::var_os("SYNOD_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_synod")), PathBuf::from)
}

/// Flags that run nodes on plain TCP between themselves; from
/// `SYNOD_INSECURE_FLAGS` when set (a build from before `tcp-insecure`
/// existed ran plain TCP by default: set it empty).
pub fn insecure_flags() -> Vec<String> {
    match std::env::var("SYNOD_INSECURE_FLAGS") {
        Ok(v) => v.split_whitespace().map(String::from).collect(),
        Err(_) => vec!["--transport".into(), "tcp-insecure".into()],
    }
}

/// Runs `synod ARGS` to the end: whether it succeeded, and what it printed
/// (stdout, then stderr).
pub fn synod(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).args(args).env("RUST_LOG", "warn").output().expect("synod runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `synod cluster` with `extra` flags (say `--protocol multi-paxos`).
pub fn cluster_with(data: &Path, port: u16, nodes: u16, extra: &[&str]) -> Proc {
    let child = Command::new(bin())
        .args(["cluster", "--nodes", &nodes.to_string(), "--resp-port", &port.to_string()])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("synod starts");
    Proc(child)
}

/// A connection to the RESP port, waiting for it to listen.
pub fn client(port: u16) -> redis::Connection {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection()) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
            return c;
        }
        assert!(Instant::now() < deadline, "synod never listened on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command until the cluster answers it (it may be electing).
pub fn retry<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut c = client(port);
        match cmd.query::<T>(&mut c) {
            Ok(v) => return v,
            Err(e) => {
                assert!(Instant::now() < deadline, "no answer from {port}: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A raw RESP connection: what a hostile (or any) client sends, byte for
/// byte, and the frames it gets back.
pub struct Raw {
    /// The socket.
    pub stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects to `port`, waiting for it to listen.
    pub fn connect(port: u16) -> Raw {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return Raw { stream, buf: Vec::new() };
            }
            assert!(Instant::now() < deadline, "synod never listened on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A connection already made.
    pub fn from_stream(stream: std::net::TcpStream) -> Raw {
        Raw { stream, buf: Vec::new() }
    }

    /// Sends `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.stream.write_all(bytes)
    }

    /// Sends one command.
    pub fn command(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.send(&encode(args))
    }

    /// The next reply, or `None` once the server closed the connection.
    pub fn reply(&mut self) -> Option<redis_protocol::resp2::types::OwnedFrame> {
        use std::io::Read;
        loop {
            if let Some((frame, used)) = redis_protocol::resp2::decode::decode(&self.buf).expect("well-formed RESP") {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends one command and returns its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> redis_protocol::resp2::types::OwnedFrame {
        self.command(args).expect("send");
        self.reply().expect("a reply")
    }

    /// Sends one command and returns its reply as text (errors included).
    pub fn text(&mut self, args: &[&[u8]]) -> String {
        text(&self.call(args))
    }

    /// Runs a command until it is not refused for want of a leader.
    pub fn settled(&mut self, args: &[&[u8]]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = self.text(args);
            let transient = ["leader", "timeout", "retry", "BUSY"].iter().any(|w| t.contains(w))
                && t.starts_with("ERR")
                || t.starts_with("BUSY");
            if !transient {
                return t;
            }
            assert!(Instant::now() < deadline, "never settled: {t}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A reply as text: simple strings, bulk strings, integers, errors
/// (prefixed `ERR`-style as sent), nil as `(nil)`, arrays joined by `,`.
pub fn text(f: &redis_protocol::resp2::types::OwnedFrame) -> String {
    use redis_protocol::resp2::types::OwnedFrame as F;
    match f {
        F::SimpleString(b) | F::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        F::Error(e) => e.to_string(),
        F::Integer(i) => i.to_string(),
        F::Null => "(nil)".into(),
        F::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
    }
}

/// One command in RESP.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A field of `INFO`.
pub fn info_field(info: &str, key: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(&format!("{key}:")).map(|v| v.trim().to_string()))
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    info_field(&status.replace('\t', ""), "VmRSS").and_then(|v| v.trim_end_matches(" kB").trim().parse().ok()).unwrap()
}

/// Bytes of every file under `dir`.
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() { du(&e.path()) } else { m.len() };
    }
    total
}

/// `synod node` as a one-node cluster: node 1 with its peer port on
/// `peer` and `extra` flags; stderr kept, for the test to read.
pub fn single_node(data: &Path, peer: u16, extra: &[&str]) -> Proc {
    let child = Command::new(bin())
        .args(["node", "--id", "1", "--members", &format!("1=127.0.0.1:{peer}")])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synod starts");
    Proc(child)
}

/// A tmpfs of a fixed size, unmounted on drop: a small disk to fill. Needs
/// root; CI sets `SYNOD_REQUIRE_TMPFS=1` so a machine where mounting fails
/// fails the test instead of skipping it.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts one of `bytes`, or `None` (a skip) where that is not allowed.
    pub fn mount(name: &str, bytes: u64) -> Option<Tmpfs> {
        let path = std::env::temp_dir().join(format!("synod-cli-tmpfs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Tmpfs(path));
        }
        let _ = std::fs::remove_dir(&path);
        assert!(std::env::var_os("SYNOD_REQUIRE_TMPFS").is_none(), "cannot mount a tmpfs, and CI requires it");
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        None
    }

    /// Fills it but for about `free` bytes; returns the filler to delete.
    pub fn fill(&self, free: u64) -> PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![7u8; 4096];
        let mut size = 0u64;
        while f.write_all(&chunk).is_ok() {
            size += chunk.len() as u64;
        }
        drop(f);
        std::fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(size.saturating_sub(free)).unwrap();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `GET path` from an HTTP server at `addr`: the status code and the body
/// (status 0 when nothing answers).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// Waits up to `secs` for `ok`.
pub fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Node `id` of a three-node cluster as its own process, on plain TCP
/// between the nodes: peer ports from `peer`, RESP ports from `resp`,
/// data under `data/node-<id>`, and `extra` flags.
pub fn cluster_node(data: &Path, id: u16, peer: u16, resp: u16, extra: &[&str]) -> Proc {
    let members: Vec<String> = (1..=3u16).map(|i| format!("{i}=127.0.0.1:{}", peer + i - 1)).collect();
    let child = Command::new(bin())
        .args(["node", "--id", &id.to_string(), "--members", &members.join(",")])
        .args(["--resp", &format!("127.0.0.1:{}", resp + id - 1)])
        .args(insecure_flags())
        .args(extra)
        .arg("--data-dir")
        .arg(data.join(format!("node-{id}")))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("synod node starts");
    Proc(child)
}

/// Which of three nodes with RESP ports from `resp` leads (0-based), asking
/// only those `up`.
pub fn leader_of(resp: u16, up: &[bool]) -> Option<u16> {
    (0..3u16).filter(|i| up[*i as usize]).find(|i| {
        let mut c = Raw::connect(resp + i);
        info_field(&c.text(&[b"INFO"]), "role").as_deref() == Some("master")
    })
}

/// Three nodes as separate processes (see [`cluster_node`]), once one of
/// them leads: the processes, and the leader's index (0-based).
pub fn three_nodes(data: &Path, peer: u16, resp: u16) -> (Vec<Proc>, u16) {
    let nodes: Vec<Proc> = (1..=3).map(|id| cluster_node(data, id, peer, resp, &[])).collect();
    let mut leader = None;
    until("a leader", 60, || {
        leader = leader_of(resp, &[true; 3]);
        leader.is_some()
    });
    (nodes, leader.expect("a leader"))
}
