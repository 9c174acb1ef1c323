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
    let lease1: i64 = retry(port, redis::cmd("LEASE").arg("GRANT").arg(60_000));
    let lease2: i64 = retry(port + 1, redis::cmd("LEASE").arg("GRANT").arg(60_000));
    let t1: Option<i64> = retry(port, redis::cmd("LOCK").arg("db").arg(lease1));
    let t1 = t1.expect("free lock is granted");
    let queued: Option<i64> = retry(port + 2, redis::cmd("LOCK").arg("db").arg(lease2));
    assert_eq!(queued, None, "the second client waits");
    let busy: Option<i64> = retry(port + 2, redis::cmd("TRYLOCK").arg("db").arg(lease2));
    assert_eq!(busy, None);
    let _: () = retry(port, redis::cmd("UNLOCK").arg("db").arg(lease1).arg(t1));
    let t2: Option<i64> = retry(port + 1, redis::cmd("LOCK").arg("db").arg(lease2));
    let t2 = t2.expect("the waiter got the lock");
    assert!(t2 > t1, "fencing tokens increase: {t1} then {t2}");
    // A stale holder's release is refused.
    let mut c = client(port);
    let e = redis::cmd("UNLOCK").arg("db").arg(lease1).arg(t1).query::<()>(&mut c).unwrap_err();
    assert!(e.to_string().contains("holder"), "{e}");
}
