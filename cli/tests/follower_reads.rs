//! `READONLY`: a connection's reads are served by the node it is
//! connected to (after the leader confirms the index to wait for), and
//! stay linearizable: a write acknowledged on one node is seen by the
//! very next read on any other. `--reads-at this-node` makes it every
//! connection's default.

mod common;

use common::{Raw, Scratch, cluster_with, free_ports, info_field};

#[test]
fn readonly_connections_read_every_acknowledged_write_on_any_node() {
    let dir = Scratch::new("follower-reads");
    let port = free_ports(3);
    // Nodes 1 and 2's connections read at the node by default; node 3's
    // asks with READONLY after READWRITE.
    let _c = cluster_with(&dir.0, port, 3, &["--reads-at", "this-node"]);
    let mut writer = Raw::connect(port);
    assert_eq!(writer.settled(&[b"SET", b"k", b"0"]), "OK");
    let mut readers: Vec<Raw> = (0..3).map(|i| Raw::connect(port + i)).collect();
    assert_eq!(readers[2].text(&[b"READWRITE"]), "OK");
    let info = readers[2].text(&[b"INFO"]);
    assert_eq!(info_field(&info, "connection_reads").as_deref(), Some("leader"), "{info}");
    assert_eq!(readers[2].text(&[b"READONLY"]), "OK");
    for r in &mut readers {
        let info = r.text(&[b"INFO"]);
        assert_eq!(info_field(&info, "connection_reads").as_deref(), Some("this-node"), "{info}");
    }
    for i in 1..=200u32 {
        let v = i.to_string();
        assert_eq!(writer.settled(&[b"SET", b"k", v.as_bytes()]), "OK");
        let r = &mut readers[i as usize % 3];
        assert_eq!(r.settled(&[b"GET", b"k"]), v, "read {i} on node {} missed an acknowledged write", i % 3 + 1);
        assert_eq!(r.settled(&[b"MGET", b"k", b"none"]), format!("{v},(nil)"));
    }
    let r = &mut readers[1];
    assert_eq!(r.text(&[b"READWRITE"]), "OK");
    let info = r.text(&[b"INFO"]);
    assert_eq!(info_field(&info, "connection_reads").as_deref(), Some("leader"), "{info}");
    assert_eq!(r.text(&[b"READONLY", b"extra"]), "ERR wrong number of arguments for 'readonly' command");
}
