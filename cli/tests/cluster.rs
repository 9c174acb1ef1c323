//! `synod cluster` as a user runs it: a real Redis client, kill -9, and a
//! restart on the same data directory.

mod common;

use common::*;

#[test]
fn acknowledged_writes_survive_kill_and_restart() {
    writes_survive_kill_and_restart("restart", &[]);
}

/// The same server on Multi-Paxos: only the replica differs, and the write
/// ahead log must hold what Multi-Paxos persists (holes, rewritten suffixes).
#[test]
fn multi_paxos_writes_survive_kill_and_restart() {
    writes_survive_kill_and_restart("restart-paxos", &["--protocol", "multi-paxos"]);
}

fn writes_survive_kill_and_restart(name: &str, extra: &[&str]) {
    let dir = Scratch::new(name);
    let port = free_ports(3);
    let mut proc = cluster_with(&dir.0, port, 3, extra);
    let mut acked = Vec::new();
    for i in 0..200u32 {
        let via = port + (i % 3) as u16;
        let _: () = retry(via, redis::cmd("SET").arg(format!("key{i}")).arg(i));
        acked.push(i);
    }
    let n: i64 = retry(port + 1, redis::cmd("INCRBY").arg("counter").arg(7));
    assert_eq!(n, 7);
    proc.kill(); // SIGKILL: no clean shutdown
    let _proc = cluster_with(&dir.0, port, 3, extra);
    for i in acked {
        let v: Option<u32> = retry(port + (i % 3) as u16, redis::cmd("GET").arg(format!("key{i}")));
        assert_eq!(v, Some(i), "key{i} lost");
    }
    let n: i64 = retry(port, redis::cmd("GET").arg("counter"));
    assert_eq!(n, 7);
}

#[test]
fn bad_input_gets_errors_and_the_node_keeps_serving() {
    let dir = Scratch::new("badinput");
    let port = free_ports(3);
    let _proc = cluster(&dir.0, port, 3);
    let _: () = retry(port, redis::cmd("SET").arg("s").arg("text"));
    let mut c = client(port);
    let e = redis::cmd("NOSUCHCMD").query::<()>(&mut c).unwrap_err();
    assert!(e.to_string().contains("unknown command"), "{e}");
    let e = redis::cmd("GET").query::<()>(&mut c).unwrap_err();
    assert!(e.to_string().contains("wrong number of arguments"), "{e}");
    let e = redis::cmd("INCR").arg("s").query::<i64>(&mut c).unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    let big = vec![b'x'; 2 << 20];
    let e = redis::cmd("SET").arg("big").arg(big).query::<()>(&mut c).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    // The same connection still works after errors.
    let v: String = redis::cmd("GET").arg("s").query(&mut c).unwrap();
    assert_eq!(v, "text");
    // Protocol garbage closes that connection only.
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.write_all(b"*2\r\n$3\r\nGET\r\n:notanumber\r\n").unwrap();
    raw.set_read_timeout(Some(core::time::Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("-ERR Protocol error"), "{:?}", String::from_utf8_lossy(&buf));
    let v: String = retry(port, redis::cmd("GET").arg("s"));
    assert_eq!(v, "text");
}

#[test]
fn locks_hand_out_increasing_fencing_tokens() {
    let dir = Scratch::new("locks");
    let port = free_ports(3);
    let _proc = cluster(&dir.0, port, 3);
    // Each client keeps its connection: its leases are the connection's.
    let (mut a, mut b) = (Raw::connect(port), Raw::connect(port + 1));
    let lease1 = a.settled(&[b"LEASE", b"GRANT", b"60000"]);
    let lease2 = b.settled(&[b"LEASE", b"GRANT", b"60000"]);
    let t1 = a.settled(&[b"LOCK", b"db", lease1.as_bytes()]);
    let t1: i64 = t1.parse().unwrap_or_else(|_| panic!("free lock is granted: {t1}"));
    assert_eq!(b.settled(&[b"LOCK", b"db", lease2.as_bytes()]), "(nil)", "the second client waits");
    assert_eq!(b.settled(&[b"TRYLOCK", b"db", lease2.as_bytes()]), "(nil)");
    assert_eq!(a.settled(&[b"UNLOCK", b"db", lease1.as_bytes(), t1.to_string().as_bytes()]), "OK");
    let t2 = b.settled(&[b"LOCK", b"db", lease2.as_bytes()]);
    let t2: i64 = t2.parse().unwrap_or_else(|_| panic!("the waiter got the lock: {t2}"));
    assert!(t2 > t1, "fencing tokens increase: {t1} then {t2}");
    // A stale holder's release is refused.
    let e = a.settled(&[b"UNLOCK", b"db", lease1.as_bytes(), t1.to_string().as_bytes()]);
    assert!(e.contains("holder"), "{e}");
}
