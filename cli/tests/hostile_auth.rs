//! Who may talk to a node, and whose leases are whose, over real sockets:
//! `AUTH` and ACL users, TLS, protected mode, leases and locks bound to
//! their holder, and leased writes that leave no lease behind.

mod common;

use common::*;
use core::time::Duration;
use std::time::Instant;

#[test]
fn with_requirepass_nothing_runs_before_auth() {
    let dir = Scratch::new("requirepass");
    let port = free_ports(3);
    let _proc = cluster_with(&dir.0, port, 3, &["--requirepass", "s3cret"]);
    let mut c = Raw::connect(port);
    assert_eq!(c.text(&[b"PING"]), "NOAUTH Authentication required.");
    assert_eq!(c.text(&[b"GET", b"k"]), "NOAUTH Authentication required.");
    assert_eq!(c.text(&[b"AUTH", b"wrong"]), "WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(c.text(&[b"AUTH", b"s3cret"]), "OK");
    assert_eq!(c.settled(&[b"SET", b"k", b"v"]), "OK");
    // HELLO can authenticate too.
    let mut h = Raw::connect(port + 1);
    assert!(h.text(&[b"HELLO", b"2"]).starts_with("NOAUTH"));
    assert!(h.text(&[b"HELLO", b"2", b"AUTH", b"default", b"s3cret"]).starts_with("server,synod"));
    assert_eq!(h.settled(&[b"GET", b"k"]), "v");
    // `synod status` authenticates when told to.
    let out = std::process::Command::new(bin())
        .args(["status", "--addr", &format!("127.0.0.1:{port}"), "--password", "s3cret"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("role"));
}

fn users_file(dir: &std::path::Path, peer: u16, resp: u16) -> std::path::PathBuf {
    let path = dir.join("node.toml");
    let text = format!(
        r#"id = 1
resp = "127.0.0.1:{resp}"
data_dir = "{data}"

[members]
1 = "127.0.0.1:{peer}"

[server]
[[server.users]]
name = "reader"
password = "r-pw"
role = "read-only"

[[server.users]]
name = "alice"
password = "a-pw"
role = "read-write"

[[server.users]]
name = "mallory"
password = "m-pw"
role = "read-write"

[[server.users]]
name = "ops"
password_sha256 = "{ops}"
role = "admin"
"#,
        data = dir.join("data").display(),
        // sha256("ops-pw")
        ops = "e17304c364ead29fb2b55a09e7287d40873d79a2a2226f8fb6fcd25c9acce886",
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn login(port: u16, user: &str, password: &str) -> Raw {
    let mut c = Raw::connect(port);
    assert_eq!(c.text(&[b"AUTH", user.as_bytes(), password.as_bytes()]), "OK", "{user}");
    c
}

#[test]
fn acl_users_get_their_role_and_only_their_own_leases() {
    let dir = Scratch::new("acl");
    let (peer, resp) = (free_ports(1), free_ports(1));
    let file = users_file(&dir.0, peer, resp);
    let _proc = single_node(&dir.0, peer, &["--config", file.to_str().unwrap()]);
    let mut nobody = Raw::connect(resp);
    assert_eq!(nobody.text(&[b"GET", b"k"]), "NOAUTH Authentication required.");
    assert!(nobody.text(&[b"AUTH", b"alice", b"m-pw"]).starts_with("WRONGPASS"), "another user's password");

    let mut alice = login(resp, "alice", "a-pw");
    assert_eq!(alice.settled(&[b"SET", b"k", b"v"]), "OK");
    let mut reader = login(resp, "reader", "r-pw");
    assert_eq!(reader.settled(&[b"GET", b"k"]), "v");
    assert_eq!(reader.text(&[b"SET", b"k", b"w"]), "NOPERM User reader has no permissions to run the 'set' command");
    assert!(reader.text(&[b"LEASE", b"GRANT", b"1000"]).starts_with("NOPERM"));

    // Alice's lease and lock are hers, on any of her connections.
    let lease = alice.settled(&[b"LEASE", b"GRANT", b"60000"]);
    let token = alice.settled(&[b"LOCK", b"db", lease.as_bytes()]);
    let owner = reader.settled(&[b"LOCKOWNER", b"db"]);
    assert_eq!(owner, format!("{lease},{token}"), "anyone may see who holds a lock");
    let mut mallory = login(resp, "mallory", "m-pw");
    for cmd in [
        vec![&b"UNLOCK"[..], b"db", lease.as_bytes(), token.as_bytes()],
        vec![b"LEASE", b"REVOKE", lease.as_bytes()],
        vec![b"LEASE", b"KEEPALIVE", lease.as_bytes()],
        vec![b"LOCK", b"other", lease.as_bytes()],
        vec![b"TRYLOCK", b"db", lease.as_bytes()],
    ] {
        let t = mallory.settled(&cmd);
        assert_eq!(t, "ERR the lease belongs to another client", "{cmd:?}");
    }
    assert_eq!(reader.settled(&[b"LOCKOWNER", b"db"]), owner, "mallory changed nothing");
    let mut alice2 = login(resp, "alice", "a-pw");
    assert_eq!(alice2.settled(&[b"LEASE", b"KEEPALIVE", lease.as_bytes()]), lease);
    // An admin may act on any lease.
    let mut ops = login(resp, "ops", "ops-pw");
    assert_eq!(ops.settled(&[b"UNLOCK", b"db", lease.as_bytes(), token.as_bytes()]), "OK");
    assert_eq!(ops.settled(&[b"LEASE", b"REVOKE", lease.as_bytes()]), "OK");
    // A session is its user's: alice's other connections may retry in it;
    // mallory may neither read its saved replies nor push its numbers on.
    let session = alice.settled(&[b"SYNOD.SESSION", b"OPEN"]);
    let s = session.as_bytes();
    assert_eq!(alice.settled(&[b"SYNOD.SEQ", s, b"1", b"INCR", b"n"]), "1");
    assert_eq!(alice2.settled(&[b"SYNOD.SEQ", s, b"1", b"INCR", b"n"]), "1");
    for cmd in [&[&b"SYNOD.SEQ"[..], s, b"1", b"INCR", b"n"][..], &[b"SYNOD.SEQ", s, b"9", b"INCR", b"n"]] {
        assert_eq!(mallory.settled(cmd), "NOPERM the session belongs to another user", "{cmd:?}");
    }
    assert_eq!(mallory.settled(&[b"SYNOD.SESSION", b"CLOSE", s]), "NOPERM the session belongs to another user");
    assert_eq!(
        reader.text(&[b"SYNOD.SEQ", s, b"2", b"INCR", b"n"]),
        "NOPERM User reader has no permissions to run the 'incr' command"
    );
    assert!(reader.text(&[b"SYNOD.SESSION", b"OPEN"]).starts_with("NOPERM"));
    assert_eq!(nobody.text(&[b"SYNOD.SEQ", s, b"2", b"INCR", b"n"]), "NOAUTH Authentication required.");
    assert_eq!(ops.settled(&[b"SYNOD.SEQ", s, b"2", b"INCR", b"n"]), "2", "an admin may use any session");
    assert_eq!(alice.settled(&[b"GET", b"n"]), "2");
    // A backup copies every key: admins only.
    assert_eq!(alice.text(&[b"SYNOD.BACKUP", b"TAKE"]), "NOPERM taking a backup takes an admin user");
    assert!(reader.text(&[b"SYNOD.BACKUP", b"TAKE"]).starts_with("NOPERM"));
    assert!(ops.settled(&[b"SYNOD.BACKUP", b"TAKE"]).split(',').all(|n| n.parse::<u64>().is_ok()));
    // Emptying the store: admins only.
    assert_eq!(alice.text(&[b"FLUSHALL"]), "NOPERM emptying the store takes an admin user");
    assert!(reader.text(&[b"FLUSHDB"]).starts_with("NOPERM"));
    assert_eq!(alice.settled(&[b"GET", b"n"]), "2", "a refused FLUSHALL removed nothing");
    assert_eq!(ops.settled(&[b"FLUSHALL"]), "OK");
    assert_eq!(ops.settled(&[b"DBSIZE"]), "0");
}

#[test]
fn without_users_a_lease_belongs_to_the_connection_that_took_it() {
    let dir = Scratch::new("owner");
    let port = free_ports(3);
    let _proc = cluster(&dir.0, port, 3);
    let (mut a, mut b) = (Raw::connect(port), Raw::connect(port + 2));
    let lease = a.settled(&[b"LEASE", b"GRANT", b"60000"]);
    let token = a.settled(&[b"LOCK", b"db", lease.as_bytes()]);
    assert_eq!(b.settled(&[b"LOCKOWNER", b"db"]), format!("{lease},{token}"));
    for cmd in [
        vec![&b"UNLOCK"[..], b"db", lease.as_bytes(), token.as_bytes()],
        vec![b"LEASE", b"REVOKE", lease.as_bytes()],
        vec![b"LOCK", b"db2", lease.as_bytes()],
    ] {
        assert_eq!(b.settled(&cmd), "ERR the lease belongs to another client", "{cmd:?}");
    }
    assert_eq!(a.settled(&[b"UNLOCK", b"db", lease.as_bytes(), token.as_bytes()]), "OK");
}

#[test]
fn a_refused_leased_write_leaves_no_lease_behind() {
    let dir = Scratch::new("orphans");
    let port = free_ports(3);
    let _proc = cluster(&dir.0, port, 3);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"k", b"v"]), "OK");
    let before = c.settled(&[b"LEASE", b"LIST"]);
    for _ in 0..20 {
        assert_eq!(c.settled(&[b"SET", b"k", b"w", b"EX", b"86400", b"NX"]), "(nil)");
    }
    assert_eq!(c.settled(&[b"LEASE", b"LIST"]), before, "refused writes left leases");
    // A write that happens gets its lease, and ends with it.
    assert_eq!(c.settled(&[b"SET", b"t", b"v", b"PX", b"1500"]), "OK");
    assert_eq!(c.settled(&[b"LEASE", b"LIST"]).split(',').filter(|s| !s.is_empty()).count(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.settled(&[b"GET", b"t"]) != "(nil)" {
        assert!(Instant::now() < deadline, "the key outlived its lease");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn resp_over_tls_serves_tls_clients_only() {
    let dir = Scratch::new("tls");
    let port = free_ports(1);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let _proc = cluster_with(
        &dir.0.join("data"),
        port,
        1,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = std::sync::Arc::new(config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let reply = loop {
        let tcp = Raw::connect(port).stream;
        let conn = rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        use std::io::{Read, Write};
        tls.write_all(&encode(&[b"SET", b"k", b"over-tls"])).unwrap();
        let mut buf = [0u8; 256];
        let n = tls.read(&mut buf).unwrap();
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        if reply == "+OK\r\n" || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(reply, "+OK\r\n");
    // Plain RESP on the TLS port gets no RESP reply.
    let mut plain = Raw::connect(port);
    plain.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    plain.send(&encode(&[b"GET", b"k"])).unwrap();
    use std::io::Read;
    let mut buf = Vec::new();
    let _ = plain.stream.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"$") && !buf.starts_with(b"+"), "a plain client was served: {buf:?}");
}

#[test]
fn a_node_refuses_to_expose_resp_without_authentication() {
    let dir = Scratch::new("protected");
    let (peer, resp) = (free_ports(1), free_ports(1));
    let out = std::process::Command::new(bin())
        .args(["node", "--id", "1", "--members", &format!("1=127.0.0.1:{peer}")])
        .args(["--resp", &format!("0.0.0.0:{resp}")])
        .arg("--data-dir")
        .arg(dir.0.join("d"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve RESP on 0.0.0.0"), "{err}");
    // With a password it serves, and asks for it.
    let _proc = single_node(&dir.0.join("d"), peer, &["--resp", &format!("0.0.0.0:{resp}"), "--requirepass", "pw"]);
    let mut c = Raw::connect(resp);
    assert_eq!(c.text(&[b"PING"]), "NOAUTH Authentication required.");
    assert_eq!(c.text(&[b"AUTH", b"pw"]), "OK");
    assert_eq!(c.text(&[b"PING"]), "PONG");
}
