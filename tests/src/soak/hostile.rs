//! The hostile clients. Each attack runs on its own thread until told to
//! stop and counts what it tried and how often the server cut it off.
//! They are paced (a few requests a second each, or blocked by the server)
//! because the soak asks whether hostile *patterns* hurt a normal client,
//! not whether a machine can be saturated with load.

use super::resp::{Conn, encode};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Arc;
use std::thread::JoinHandle;

/// One way of attacking the RESP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attack {
    /// Connections opened and never used.
    Idle,
    /// Pipelined GETs of a 256 KiB value, never read.
    NeverReads,
    /// A request sent one byte every 200 ms, never finished.
    HalfSent,
    /// SETs of 1.5 MiB values, over the value limit.
    Oversized,
    /// Nested arrays, huge declared lengths, garbage.
    Malformed,
    /// MGET naming the 256 KiB value 300 times.
    Amplifies,
    /// GETs of the 256 KiB value read at 64 KiB a second.
    Crawls,
}

struct Counters {
    tried: AtomicU64,
    cut_off: AtomicU64,
}

/// The running attacks.
pub struct Hostile {
    threads: Vec<(Attack, Arc<Counters>, JoinHandle<()>)>,
}

const ATTACKERS: [(Attack, usize); 6] = [
    (Attack::NeverReads, 4),
    (Attack::HalfSent, 4),
    (Attack::Oversized, 2),
    (Attack::Malformed, 2),
    (Attack::Amplifies, 2),
    (Attack::Crawls, 2),
];

fn pause(stop: &AtomicBool, d: Duration) -> bool {
    std::thread::sleep(d);
    !stop.load(Ordering::Relaxed)
}

fn attack(kind: Attack, port: u16, stop: &AtomicBool, n: &Counters) {
    let connect = || Conn::connect(port, Duration::from_secs(10));
    let count = |cut: bool| {
        n.tried.fetch_add(1, Ordering::Relaxed);
        if cut {
            n.cut_off.fetch_add(1, Ordering::Relaxed);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match kind {
            Attack::Idle => unreachable!("idle connections need no thread"),
            Attack::NeverReads => {
                let c = connect();
                let get = encode(&[b"GET", b"soak:big"]);
                // Writes block once the server stops reading us (the
                // timeout only lets us see the stop flag); they fail once
                // it hangs up.
                let _ = c.stream.set_write_timeout(Some(Duration::from_millis(500)));
                let mut stream = &c.stream;
                let cut = loop {
                    if stop.load(Ordering::Relaxed) {
                        break false;
                    }
                    use std::io::{ErrorKind, Write};
                    match stream.write(&get) {
                        Ok(_) => {}
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break true,
                    }
                };
                count(cut);
            }
            Attack::HalfSent => {
                let mut c = connect();
                let _ = c.send(b"*2\r\n$3\r\nGET\r\n$100\r\n");
                while c.send(b"x") && pause(stop, Duration::from_millis(200)) {}
                count(c.is_closed());
            }
            Attack::Oversized => {
                let mut c = connect();
                let big = vec![b'o'; 3 << 19];
                while !stop.load(Ordering::Relaxed) {
                    let t = c.text(&[b"SET", b"soak:over", &big]);
                    count(!t.contains("too large"));
                    if c.is_closed() || !pause(stop, Duration::from_millis(100)) {
                        break;
                    }
                }
            }
            Attack::Malformed => {
                for bytes in [b"*1\r\n".repeat(10_000), b"*1\r\n$100000000\r\n".to_vec(), b"*2\r\n:1\r\n".to_vec()] {
                    let mut c = connect();
                    let _ = c.send(&bytes);
                    let _ = c.reply();
                    count(c.reply().is_none());
                    if !pause(stop, Duration::from_millis(100)) {
                        break;
                    }
                }
            }
            Attack::Amplifies => {
                let mut c = connect();
                let mut args: Vec<&[u8]> = vec![b"MGET"];
                args.extend(core::iter::repeat_n(&b"soak:big"[..], 300));
                while !stop.load(Ordering::Relaxed) {
                    let t = c.text(&args);
                    count(!t.contains("too large"));
                    if c.is_closed() || !pause(stop, Duration::from_millis(100)) {
                        break;
                    }
                }
            }
            Attack::Crawls => {
                let mut c = connect();
                let _ = c.send(&encode(&[b"GET", b"soak:big"]));
                let mut got = 0usize;
                let mut chunk = [0u8; 6 << 10];
                use std::io::Read;
                while got < (256 << 10) && pause(stop, Duration::from_millis(100)) {
                    match c.stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got += k,
                    }
                }
                count(got < (256 << 10));
            }
        }
    }
}

impl Attack {
    /// The attack named `name` (as printed), if any.
    pub fn named(name: &str) -> Option<Attack> {
        ATTACKERS.iter().map(|(k, _)| *k).find(|k| format!("{k:?}").eq_ignore_ascii_case(name))
    }
}

impl Hostile {
    /// Opens `idle` idle connections and starts every other attack, or
    /// only `only` if given (to see what one attack costs).
    pub fn start(port: u16, idle: usize, only: Option<Attack>, stop: Arc<AtomicBool>) -> Hostile {
        let mut threads = Vec::new();
        let idle_n = Arc::new(Counters { tried: AtomicU64::new(0), cut_off: AtomicU64::new(0) });
        {
            let (n, stop) = (idle_n.clone(), stop.clone());
            threads.push((
                Attack::Idle,
                idle_n,
                std::thread::spawn(move || {
                    let held: Vec<Conn> = (0..idle).map(|_| Conn::connect(port, Duration::from_secs(10))).collect();
                    n.tried.store(held.len() as u64, Ordering::Relaxed);
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    drop(held);
                }),
            ));
        }
        for (kind, count) in ATTACKERS.into_iter().filter(|(k, _)| only.is_none_or(|o| o == *k)) {
            for _ in 0..count {
                let n = Arc::new(Counters { tried: AtomicU64::new(0), cut_off: AtomicU64::new(0) });
                let (m, stop) = (n.clone(), stop.clone());
                threads.push((kind, n, std::thread::spawn(move || attack(kind, port, &stop, &m))));
            }
        }
        Hostile { threads }
    }

    /// Waits for every attack to stop; per attack: tried, cut off.
    pub fn join(self) -> Vec<(Attack, u64, u64)> {
        let mut out: Vec<(Attack, u64, u64)> = Vec::new();
        for (kind, n, t) in self.threads {
            let _ = t.join();
            let (tried, cut) = (n.tried.load(Ordering::Relaxed), n.cut_off.load(Ordering::Relaxed));
            match out.iter_mut().find(|(k, _, _)| *k == kind) {
                Some(e) => {
                    e.1 += tried;
                    e.2 += cut;
                }
                None => out.push((kind, tried, cut)),
            }
        }
        out
    }
}
