//! What `synod-client` costs over raw RESP: the same SET workload, the
//! same connections per node, in alternating rounds of one run.
//!
//! ```sh
//! target/release/synod cluster --nodes 3 --resp-port 7001 &
//! target/release/client-overhead --addrs 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 \
//!     --clients 64 --seconds 10 --rounds 3 --value 256
//! ```
//!
//! Raw: each of `--clients` tasks holds one connection and sends `SET key
//! value`, waiting for each reply (as kvbench does). Client: each task holds
//! one `synod_client::Client` (its first endpoint the same node the raw
//! task uses), whose every `set` is `SYNOD.SEQ id seq SET key value` in its
//! own session, retried on failure.

use bytes::{Bytes, BytesMut};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use std::sync::Arc;
use synod_client::{Client, Config};
use synod_net::stream::Connector;
use synod_tokio::{TcpConnector, TokioRuntime};

struct Args {
    addrs: Vec<String>,
    clients: usize,
    seconds: u64,
    rounds: usize,
    value: usize,
}

fn args() -> Args {
    let mut a = Args { addrs: vec!["127.0.0.1:7001".into()], clients: 64, seconds: 10, rounds: 3, value: 256 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addrs" => a.addrs = v.split(',').map(String::from).collect(),
            "--clients" => a.clients = v.parse().expect("--clients N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--value" => a.value = v.parse().expect("--value BYTES"),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

/// One raw connection: `SET` and wait, until `stop`.
async fn raw(addr: String, task: usize, value: Bytes, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut s = TcpConnector.connect(&addr).await.expect("connect");
    let mut buf = BytesMut::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let key = Bytes::from(format!("raw:{task}:{}", n % 1000));
        let cmd = BytesFrame::Array(vec![
            BytesFrame::BulkString(Bytes::from_static(b"SET")),
            BytesFrame::BulkString(key),
            BytesFrame::BulkString(value.clone()),
        ]);
        let mut out = BytesMut::new();
        extend_encode(&mut out, &cmd, false).expect("encode");
        s.write_all(&out).await.expect("write");
        loop {
            if let Some((frame, _, _)) = decode_bytes_mut(&mut buf).expect("decode") {
                assert!(matches!(frame, BytesFrame::SimpleString(_)), "SET answered {frame:?}");
                break;
            }
            let mut chunk = [0u8; 4096];
            let got = s.read(&mut chunk).await.expect("read");
            assert!(got > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..got]);
        }
        n += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// One client: `set` until `stop`.
async fn through_client(
    endpoints: Vec<String>,
    task: usize,
    value: Bytes,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let cfg = Config::new(endpoints).with_seed(task as u64);
    let c = Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector)).expect("client");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        c.set(format!("cl:{task}:{}", n % 1000), value.clone(), None).await.expect("set");
        n += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
    c.close().await.expect("close");
}

fn round(rt: &tokio::runtime::Runtime, a: &Args, client: bool) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let value = Bytes::from(vec![b'v'; a.value]);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..a.clients {
            let (stop, done, value) = (stop.clone(), done.clone(), value.clone());
            // Task t uses node t mod n, in both modes.
            let mut endpoints = a.addrs.clone();
            endpoints.rotate_left(t % a.addrs.len());
            tasks.push(tokio::spawn(async move {
                match client {
                    true => through_client(endpoints, t, value, stop, done).await,
                    false => raw(endpoints[0].clone(), t, value, stop, done).await,
                }
            }));
        }
        // A second of warm-up (sessions opened, connections made), then
        // the measured window.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (start, at) = (done.load(Ordering::Relaxed), std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
        let ops = done.load(Ordering::Relaxed) - start;
        let rate = ops as f64 / at.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("task");
        }
        rate
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (mut raws, mut clients) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        let raw = round(&rt, &a, false);
        let cl = round(&rt, &a, true);
        println!("round {r}: raw SET {raw:.0}/s, synod-client set {cl:.0}/s ({:.3}x)", cl / raw);
        raws.push(raw);
        clients.push(cl);
    }
    let (r, c) = (median(raws), median(clients));
    println!("median: raw SET {r:.0}/s, synod-client set {c:.0}/s: {:.3}x", c / r);
}
