//! The RESP port against hostile clients, over real sockets, against a
//! running `synod cluster`: malformed and oversized requests, clients that
//! never read, replies that would amplify, too many clients, idle ones.
//! Each is refused or bounded, and every node keeps serving.

mod common;

use common::*;
use core::time::Duration;
use std::time::Instant;

fn waits_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_deeply_nested_request_is_refused_and_every_node_keeps_serving() {
    let dir = Scratch::new("nested");
    let port = free_ports(3);
    let mut proc = cluster(&dir.0, port, 3);
    assert_eq!(Raw::connect(port).settled(&[b"SET", b"k", b"v"]), "OK");
    // 40 KB of nested arrays used to overflow a worker's stack and abort
    // the process, every node with it.
    let mut evil = Raw::connect(port + 1);
    evil.send(&b"*1\r\n".repeat(10_000)).unwrap();
    let e = text(&evil.reply().expect("an error reply, not a dead process"));
    assert!(e.starts_with("ERR Protocol error: expected '$'"), "{e}");
    assert!(evil.reply().is_none(), "the connection is closed after a protocol error");
    assert!(proc.0.try_wait().unwrap().is_none(), "the process died");
    for p in port..port + 3 {
        assert_eq!(Raw::connect(p).settled(&[b"GET", b"k"]), "v", "node on {p}");
    }
}

#[test]
fn declared_sizes_past_the_limits_are_refused_without_waiting_for_the_bytes() {
    let dir = Scratch::new("declared");
    let port = free_ports(3);
    let _proc = cluster_with(&dir.0, port, 3, &["--max-request-bytes", "100000"]);
    let cases: [(&[u8], &str); 4] = [
        // A bulk string past the request limit: refused at its header.
        (b"*1\r\n$100000000\r\n", "invalid bulk length"),
        (b"*2000000\r\n", "invalid multibulk length"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        // Arguments that each fit, but not together.
        (b"*3\r\n$3\r\nSET\r\n$60000\r\n", ""),
    ];
    for (bytes, want) in cases {
        let mut c = Raw::connect(port);
        c.send(bytes).unwrap();
        if want.is_empty() {
            c.send(&vec![b'x'; 60_000]).unwrap();
            c.send(b"\r\n$60000\r\n").unwrap();
            let e = text(&c.reply().expect("refused"));
            assert!(e.contains("request larger than 100000 bytes"), "{e}");
            continue;
        }
        let e = text(&c.reply().expect("refused at the header"));
        assert!(e.starts_with("ERR Protocol error") && e.contains(want), "{:?}: {e}", String::from_utf8_lossy(bytes));
        assert!(c.reply().is_none());
    }
    // An inline line past 64 KiB.
    let mut c = Raw::connect(port);
    let _ = c.send(&vec![b'a'; 70 << 10]);
    assert!(text(&c.reply().expect("refused")).contains("too big inline request"));
    // A request that fits is served, split however the client likes.
    let mut c = Raw::connect(port);
    let set = encode(&[b"SET", b"split", &vec![b'v'; 50_000]]);
    for piece in set.chunks(777) {
        c.send(piece).unwrap();
    }
    let t = text(&c.reply().unwrap());
    let t = if t == "OK" { t } else { c.settled(&[b"SET", b"split", &vec![b'v'; 50_000]]) };
    assert_eq!(t, "OK");
    assert!(c.settled(&[b"NOT-A-COMMAND"]).contains("unknown command"));
}

#[test]
fn a_client_that_never_reads_its_replies_is_bounded_then_disconnected() {
    let dir = Scratch::new("never-reads");
    let port = free_ports(3);
    let proc = cluster_with(&dir.0, port, 3, &["--stall-timeout", "3"]);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"big", &vec![b'v'; 256 << 10]]), "OK");
    assert_eq!(c.settled(&[b"GET", b"big"]).len(), 256 << 10);
    let before = rss_kib(proc.0.id());
    // 2,000 pipelined GETs of a 256 KiB value: 500 MiB of replies that
    // used to be built in memory. The writer blocks once the server stops
    // reading it, and fails once the server hangs up.
    let evil = Raw::connect(port);
    let stream = evil.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut evil = Raw::from_stream(stream);
        let get = encode(&[b"GET", b"big"]);
        for _ in 0..2_000 {
            if evil.send(&get).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_kib(proc.0.id()).saturating_sub(before);
    assert!(grown < 48 << 10, "RSS grew by {grown} KiB for one client that reads nothing");
    // After the stall timeout it is disconnected and its slot freed.
    let mut watch = Raw::connect(port + 1);
    waits_for("the stalled client to be disconnected", || {
        info_field(&watch.text(&[b"INFO"]), "connected_clients").as_deref() == Some("2")
    });
    drop(evil);
    writer.join().unwrap();
    // Everyone else was served throughout.
    assert_eq!(c.settled(&[b"GET", b"big"]).len(), 256 << 10);
}

#[test]
fn a_multi_key_read_cannot_make_the_server_build_a_huge_reply() {
    let dir = Scratch::new("mget");
    let port = free_ports(3);
    let proc = cluster(&dir.0, port, 3);
    let mut c = Raw::connect(port);
    assert_eq!(c.settled(&[b"SET", b"big", &vec![b'v'; 1 << 20]]), "OK");
    let before = rss_kib(proc.0.id());
    // A 3 KB request naming a 1 MiB key 300 times took RSS up by 600 MB.
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(core::iter::repeat_n(&b"big"[..], 300));
    let e = c.settled(&args);
    assert!(e.contains("reply too large"), "{}", &e[..e.len().min(200)]);
    let grown = rss_kib(proc.0.id()).saturating_sub(before);
    assert!(grown < 48 << 10, "RSS grew by {grown} KiB for one MGET");
    // Within the limit, it is served.
    assert_eq!(c.settled(&[b"MGET", b"big", b"big", b"nope"]).len(), 2 * (1 << 20) + 2 + "(nil)".len());
}

#[test]
fn clients_past_the_limit_are_refused_and_idle_ones_are_closed() {
    let dir = Scratch::new("maxclients");
    let port = free_ports(3);
    let _proc = cluster_with(&dir.0, port, 3, &["--maxclients", "20", "--timeout", "3"]);
    let mut clients: Vec<Raw> = (0..20).map(|i| Raw::connect(port + (i % 3))).collect();
    for c in &mut clients {
        assert_eq!(c.text(&[b"PING"]), "PONG");
    }
    let info = clients[0].text(&[b"INFO"]);
    assert_eq!(info_field(&info, "maxclients").as_deref(), Some("20"));
    assert_eq!(info_field(&info, "connected_clients").as_deref(), Some("20"));
    let mut extra = Raw::connect(port + 1);
    assert_eq!(text(&extra.reply().expect("told why")), "ERR max number of clients reached");
    assert!(extra.reply().is_none(), "and closed");
    // Idle clients are closed after the timeout, which frees their slots.
    std::thread::sleep(Duration::from_secs(5));
    for c in &mut clients {
        assert!(c.reply().is_none(), "an idle client was kept");
    }
    assert_eq!(Raw::connect(port).text(&[b"PING"]), "PONG");
}

#[test]
fn the_client_limit_leaves_storage_its_descriptors() {
    // 1,100 idle clients under `ulimit -n 1024` used to take the
    // descriptors storage needed: at the next snapshot two nodes died.
    let dir = Scratch::new("fds");
    let port = free_ports(3);
    let cmd = format!(
        "ulimit -n 400 && exec {} cluster --nodes 3 --resp-port {port} --data-dir {} --snapshot-every 20",
        bin().display(),
        dir.0.display()
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    let mut first: Vec<Raw> = (0..3).map(|i| Raw::connect(port + i)).collect();
    let max: usize = info_field(&first[0].text(&[b"INFO"]), "maxclients").unwrap().parse().unwrap();
    assert!((100..400).contains(&max), "maxclients {max} does not fit a limit of 400 descriptors");
    let mut held = Vec::new();
    let mut refused = 0;
    let mut all: Vec<Raw> = (0..max + 50).map(|i| Raw::connect(port + (i % 3) as u16)).collect();
    for (i, mut c) in all.drain(..).enumerate() {
        let _ = c.command(&[b"PING"]);
        match c.reply().map(|f| text(&f)).as_deref() {
            Some("PONG") => held.push(c),
            Some("ERR max number of clients reached") => refused += 1,
            other => panic!("client {i} neither served nor told why: {other:?}"),
        }
    }
    assert_eq!(held.len() + 3, max, "every slot but the three already held is used");
    assert_eq!(refused, 53);
    // Writes that make every node snapshot several times, with every
    // client slot taken.
    for i in 0..120u32 {
        let k = format!("k{i}");
        assert_eq!(first[(i % 3) as usize].settled(&[b"SET", k.as_bytes(), b"v"]), "OK");
    }
    for (i, c) in first.iter_mut().enumerate() {
        let info = c.text(&[b"INFO"]);
        assert_eq!(info_field(&info, "node_state").as_deref(), Some("ok"), "node {}: {info}", i + 1);
        let snap: u64 = info_field(&info, "snapshot_index").unwrap().parse().unwrap();
        assert!(snap > 0, "node {} never snapshotted", i + 1);
        assert_eq!(c.settled(&[b"GET", b"k119"]), "v");
    }
    drop(proc);
}
