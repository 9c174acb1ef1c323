//! The hostile-client soak: a `synod cluster` serving one normal writer,
//! first alone, then beside clients that try every way a RESP client can
//! hurt a server — hundreds of idle connections, pipelines never read,
//! half-sent requests, oversized and malformed requests, replies that
//! would amplify, and readers that crawl. The writer's latency is compared
//! across the two runs, the server's memory is sampled throughout, and
//! every write acknowledged in either run is read back at the end.

mod hostile;
mod resp;

pub use hostile::{Attack, Hostile};
pub use resp::Conn;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// What one soak measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The writer alone: writes acknowledged, p50 and p99 in microseconds.
    pub alone: Latency,
    /// The writer beside the hostile clients.
    pub attacked: Latency,
    /// The server's resident memory after the writer ran alone, KiB (it
    /// overwrites a fixed set of keys, so the data does not grow).
    pub rss_before_kib: u64,
    /// Peak resident memory during the attack, KiB.
    pub rss_peak_kib: u64,
    /// Acknowledged writes that did not read back.
    pub lost: u64,
    /// What each attack did.
    pub attacks: Vec<(Attack, u64, u64)>,
}

/// The writer's latencies in one run.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    /// Writes acknowledged.
    pub acked: u64,
    /// Writes refused or failed.
    pub failed: u64,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
}

/// A running `synod cluster`, killed on drop.
pub struct Server {
    child: Child,
    /// RESP port of node 1.
    pub port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts `binary cluster` on a fresh data directory under `dir`.
    pub fn start(binary: &Path, dir: &Path, port: u16, extra: &[&str]) -> Server {
        let _ = std::fs::remove_dir_all(dir);
        let child = Command::new(binary)
            .args(["cluster", "--nodes", "3", "--resp-port", &port.to_string(), "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let s = Server { child, port, dir: dir.to_path_buf() };
        let mut c = Conn::connect(port, Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.text(&[b"SET", b"soak:ready", b"1"]) != "OK" {
            assert!(Instant::now() < deadline, "the cluster never took a write");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Keys the writer cycles through: the data stays the same size, so
/// memory that grows under attack is the attack's.
const KEYS: u64 = 1000;

/// The normal client: sequential 256-byte writes for `secs` seconds, each
/// naming its phase and number. `acked` keeps, per key, the last value
/// acknowledged; a key whose later write failed (it may or may not have
/// applied) is dropped from it.
fn write_for(port: u16, phase: &str, secs: u64, acked: &mut BTreeMap<String, Vec<u8>>) -> Latency {
    let mut c = Conn::connect(port, Duration::from_secs(10));
    let mut samples = Vec::new();
    let mut failed = 0;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut i = 0u64;
    while Instant::now() < end {
        let key = format!("soak:{}", i % KEYS);
        let mut value = format!("{phase}:{i}:").into_bytes();
        value.resize(256, b'w');
        i += 1;
        let t = Instant::now();
        let reply = c.text(&[b"SET", key.as_bytes(), &value]);
        let us = t.elapsed().as_micros() as u64;
        if reply == "OK" {
            samples.push(us);
            acked.insert(key, value);
        } else {
            failed += 1;
            acked.remove(&key);
            if c.is_closed() {
                c = Conn::connect(port, Duration::from_secs(10));
            }
        }
    }
    samples.sort_unstable();
    let pct = |p: f64| samples.get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1))).copied();
    Latency { acked: samples.len() as u64, failed, p50_us: pct(0.50).unwrap_or(0), p99_us: pct(0.99).unwrap_or(0) }
}

/// Runs the soak: `secs` seconds alone, then `secs` under attack (every
/// attack, or `only` one).
pub fn run(binary: &Path, dir: &Path, port: u16, secs: u64, idle: usize, only: Option<Attack>) -> Report {
    let server = Server::start(binary, dir, port, &[]);
    let mut setup = Conn::connect(port, Duration::from_secs(10));
    assert_eq!(setup.text(&[b"SET", b"soak:big", &vec![b'b'; 256 << 10]]), "OK");
    let mut acked = BTreeMap::new();
    let alone = write_for(port, "alone", secs, &mut acked);
    let rss_before_kib = server.rss_kib();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_before_kib));
    let hostile = Hostile::start(port, idle, only, stop.clone());
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), server.child.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kib) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Let the attack reach its stride before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let attacked = write_for(port, "attacked", secs, &mut acked);
    stop.store(true, Ordering::Relaxed);
    let attacks = hostile.join();
    let _ = sampler.join();

    let mut check = Conn::connect(port, Duration::from_secs(10));
    let lost = acked.iter().filter(|(k, v)| check.call(&[b"GET", k.as_bytes()]).as_ref() != Some(*v)).count() as u64;
    Report { alone, attacked, rss_before_kib, rss_peak_kib: peak.load(Ordering::Relaxed), lost, attacks }
}
