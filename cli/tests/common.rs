//! Starting `synod` processes for integration tests, and talking to them
//! with a real Redis client library.

#![allow(dead_code)]

use core::time::Duration;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A free block of `n` consecutive ports on loopback.
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let base = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if base > 60000 {
            continue;
        }
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

/// `synod cluster` with `extra` flags (say `--protocol multi-paxos`).
pub fn cluster_with(data: &Path, port: u16, nodes: u16, extra: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_synod"))
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
