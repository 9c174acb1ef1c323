//! `synod-client` against real nodes: every write exactly once through
//! kills of the leader and of the node the client is connected to, typed
//! errors for refusals and for a lost session.

mod common;

use bytes::Bytes;
use common::{Raw, Scratch, cluster, cluster_node, free_ports, three_nodes};
use core::time::Duration;
use std::sync::Arc;
use synod_client::{Client, Config, Error, Reads};
use synod_tokio::{TcpConnector, TokioRuntime};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn client(endpoints: impl IntoIterator<Item = String>) -> Client {
    let cfg = Config::new(endpoints).with_seed(1).with_retry_budget(Duration::from_secs(60));
    Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector)).unwrap()
}

/// 300 increments through the client. A third of the way in the leader is
/// SIGKILLed; it restarts; two thirds in, the node the client is connected
/// to is SIGKILLed while writes are in flight. Each increment must return
/// its own count: none lost, none applied twice.
#[test]
fn increments_apply_exactly_once_through_kills_of_the_leader_and_of_the_clients_node() {
    let dir = Scratch::new("client-kill");
    let (peer, resp) = (free_ports(3), free_ports(3));
    let (mut nodes, first) = three_nodes(&dir.0, peer, resp);
    let first = first as usize;
    let rt = runtime();
    rt.block_on(async {
        let c = client((0..3).map(|i| format!("127.0.0.1:{}", resp + i)));
        let mut killer = None;
        for i in 1..=300i64 {
            if i == 100 {
                nodes[first].kill();
            }
            if i == 150 {
                nodes[first] = cluster_node(&dir.0, first as u16 + 1, peer, resp, &[]);
            }
            if i == 200 {
                let addr = c.endpoint().await.expect("connected");
                let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
                let pid = nodes[(port - resp) as usize].0.id().to_string();
                killer = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    let killed = std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
                    assert!(killed.success());
                }));
            }
            assert_eq!(c.incr("n").await.unwrap(), i, "increment {i} answered with another count");
        }
        killer.unwrap().join().unwrap();
        assert_eq!(c.get("n").await.unwrap(), Some(Bytes::from_static(b"300")));
    });
}

#[test]
fn calls_answer_and_refusals_and_a_lost_session_are_typed() {
    let dir = Scratch::new("client-calls");
    let port = free_ports(3);
    let _c = cluster(&dir.0, port, 3);
    let rt = runtime();
    rt.block_on(async {
        let c = client((0..3).map(|i| format!("127.0.0.1:{}", port + i)));
        c.set("k", "v", None).await.unwrap();
        assert_eq!(c.get("k").await.unwrap(), Some(Bytes::from_static(b"v")));
        assert!(!c.cas("k", "nope", "w").await.unwrap());
        assert!(c.cas("k", "v", "w").await.unwrap());
        c.set("t", "1", Some(Duration::from_millis(300))).await.unwrap();
        assert_eq!(c.get("t").await.unwrap(), Some(Bytes::from_static(b"1")));
        assert_eq!(c.del(["k", "t", "none"]).await.unwrap(), 2);
        c.set("s", "text", None).await.unwrap();
        match c.incr("s").await {
            Err(Error::Refused(why)) => assert_eq!(why, "ERR value is not an integer or out of range"),
            other => panic!("{other:?}"),
        }
        c.set("t", "1", Some(Duration::from_millis(300))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(c.get("t").await.unwrap(), None, "the TTL ran out");
        // Someone closes the client's session: its next write cannot tell
        // whether an earlier copy was applied, and says so; the one after
        // goes in a new session.
        let session = c.session().await.expect("a session").to_string();
        let mut raw = Raw::connect(port);
        assert_eq!(raw.settled(&[b"SYNOD.SESSION", b"CLOSE", session.as_bytes()]), "1");
        assert!(matches!(c.incr("n").await, Err(Error::MaybeApplied)));
        assert_eq!(c.incr("n").await.unwrap(), 1);
        assert_ne!(c.session().await.unwrap().to_string(), session);
        c.close().await.unwrap();
        assert_eq!(c.session().await, None);
    });
    let cfg = Config::new(Vec::<String>::new());
    let none = Client::new(cfg, TokioRuntime::with_handle(rt.handle().clone()), Arc::new(TcpConnector));
    assert!(matches!(none, Err(Error::NoEndpoints)));
}

/// A lease and a lock taken through the client belong to its session, not
/// to its connection: when the node the client is connected to is
/// SIGKILLed, the keep-alives go on through another node and the lease
/// stays held. A second client waits for the lock and gets it, with a
/// larger fencing token, when the first drops its guard.
#[test]
fn a_lease_and_its_lock_outlive_the_clients_node() {
    let dir = Scratch::new("client-lease");
    let (peer, resp) = (free_ports(3), free_ports(3));
    let (nodes, _) = three_nodes(&dir.0, peer, resp);
    let endpoints: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", resp + i)).collect();
    let rt = runtime();
    rt.block_on(async {
        let c = Arc::new(client(endpoints.clone()));
        let lease = c.grant(Duration::from_secs(2)).await.unwrap();
        let guard = c.lock("job", &lease).await.unwrap();
        let first = guard.token();
        let addr = c.endpoint().await.expect("connected");
        let node = (addr.rsplit(':').next().unwrap().parse::<u16>().unwrap() - resp) as usize;
        let killed = std::process::Command::new("kill").args(["-9", &nodes[node].0.id().to_string()]).status();
        assert!(killed.unwrap().success());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(lease.may_act(), "the lease is {:?} 5 s (2.5 TTLs) after the client's node died", lease.state());
        let survivor = resp + (node as u16 + 1) % 3;
        let owner = Raw::connect(survivor).settled(&[b"LOCKOWNER", b"job"]);
        assert_eq!(owner, format!("{},{first}", lease.id()));

        let mut others = endpoints.clone();
        others.rotate_left(node + 1);
        let c2 = Arc::new(client(others));
        let waiter = tokio::spawn(async move {
            let lease2 = c2.grant(Duration::from_secs(2)).await.unwrap();
            let g = c2.lock("job", &lease2).await.unwrap();
            g.token()
        });
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!waiter.is_finished(), "the lock went to a second holder while the first held it");
        drop(guard);
        let second =
            tokio::time::timeout(Duration::from_secs(20), waiter).await.expect("the waiter got the lock").unwrap();
        assert!(second > first, "token {second} after {first}");
    });
    drop(nodes);
}

/// With `Reads::Spread`, reads go to every node through the balancer and
/// stay linearizable: each sees the write acknowledged just before it. A
/// SIGKILLed node is suspected by the client's φ-accrual detector, and the
/// reads after it all succeed elsewhere.
#[test]
fn spread_reads_use_every_node_see_every_write_and_skip_a_dead_one() {
    let dir = Scratch::new("client-reads");
    let (peer, resp) = (free_ports(3), free_ports(3));
    let (mut nodes, leader) = three_nodes(&dir.0, peer, resp);
    let victim = (leader as usize + 1) % 3;
    let rt = runtime();
    rt.block_on(async {
        let endpoints = (0..3).map(|i| format!("127.0.0.1:{}", resp + i));
        let cfg = Config::new(endpoints).with_seed(3).with_reads(Reads::Spread);
        let c = Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector)).unwrap();
        write_then_read(&c, 1..=150).await;
        let before = c.reads_served();
        assert!(before.iter().filter(|n| **n > 0).count() >= 2, "reads went to one node only: {before:?}");
        assert_eq!(c.suspected(), vec![false; 3], "a live node is suspected");
        nodes[victim].kill();
        // The φ-accrual detector, fed by pings every 500 ms, convicts the
        // dead node within a few seconds; the live ones stay trusted.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !c.suspected()[victim] {
            assert!(std::time::Instant::now() < deadline, "the dead node is never suspected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let suspected = c.suspected();
        assert_eq!(suspected.iter().filter(|s| **s).count(), 1, "{suspected:?}");
        write_then_read(&c, 151..=300).await;
        let after = c.reads_served();
        assert_eq!(after[victim], before[victim], "the dead node answered reads: {before:?} then {after:?}");
        assert_eq!(after.iter().sum::<u64>() - before.iter().sum::<u64>(), 150, "{before:?} then {after:?}");
    });
}

/// Writes `k = i` and reads it back, for each `i`.
async fn write_then_read(c: &Client, range: core::ops::RangeInclusive<u32>) {
    for i in range {
        c.set("k", i.to_string(), None).await.unwrap();
        let read = c.get("k").await.unwrap_or_else(|e| panic!("read {i}: {e}"));
        assert_eq!(read, Some(Bytes::from(i.to_string())), "read {i} missed the write before it");
    }
}

/// The same client on smol: the smol adapter's runtime and dialer, the
/// lease's keep-alive task on its executor.
#[test]
fn the_client_runs_on_smol_too() {
    let dir = Scratch::new("client-smol");
    let port = free_ports(3);
    let _c = cluster(&dir.0, port, 3);
    let runtime = synod_smol::SmolRuntime::with_threads(1).unwrap();
    smol::block_on(async {
        let endpoints = (0..3).map(|i| format!("127.0.0.1:{}", port + i));
        let cfg = Config::new(endpoints).with_seed(5).with_retry_budget(Duration::from_secs(60));
        let c = Arc::new(Client::new(cfg, runtime, Arc::new(synod_smol::TcpConnector)).unwrap());
        for i in 1..=20 {
            assert_eq!(c.incr("n").await.unwrap(), i);
        }
        let lease = c.grant(Duration::from_secs(1)).await.unwrap();
        smol::Timer::after(Duration::from_secs(3)).await;
        assert!(lease.may_act(), "the lease is {:?} after 3 TTLs", lease.state());
    });
}
