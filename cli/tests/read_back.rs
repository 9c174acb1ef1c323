//! One copy of the log on real processes: with `--retained-entries 0` a
//! node keeps no applied entry in memory that its peers already hold, so a
//! follower that was down while the others wrote catches up from entries
//! the leader reads back from its data directory (no snapshot is taken:
//! `--snapshot-every` is far away). Then the follower, asked directly,
//! serves every acknowledged write.

mod common;

use common::{Proc, Raw, Scratch, cluster_node, free_ports, leader_of, until};

#[test]
fn a_restarted_follower_catches_up_from_entries_read_back_from_disk() {
    catch_up("raft");
}

#[test]
fn a_multi_paxos_acceptor_catches_up_from_entries_read_back_from_disk() {
    catch_up("multi-paxos");
}

fn catch_up(protocol: &str) {
    let dir = Scratch::new(&format!("read-back-{protocol}"));
    let peer = free_ports(6);
    let resp = peer + 3;
    let flags = ["--protocol", protocol, "--retained-entries", "0", "--snapshot-every", "1000000"];
    let mut nodes: Vec<Proc> = (1..=3).map(|id| cluster_node(&dir.0, id, peer, resp, &flags)).collect();
    let mut leader = None;
    until("a leader", 60, || {
        leader = leader_of(resp, &[true; 3]);
        leader.is_some()
    });
    let leader = leader.expect("a leader");
    let follower = (leader + 1) % 3;
    let mut writer = Raw::connect(resp + leader);
    assert_eq!(writer.settled(&[b"SET", b"before", b"1"]), "OK");
    nodes[follower as usize].kill();
    for i in 0..300u32 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        assert_eq!(writer.settled(&[b"SET", k.as_bytes(), v.as_bytes()]), "OK");
    }
    nodes[follower as usize] = cluster_node(&dir.0, follower + 1, peer, resp, &flags);
    let mut reader = Raw::connect(resp + follower);
    assert_eq!(reader.text(&[b"READONLY"]), "OK");
    until("the follower caught up", 60, || reader.settled(&[b"GET", b"k299"]) == "v299");
    for i in 0..300u32 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        assert_eq!(reader.settled(&[b"GET", k.as_bytes()]), v, "key {k} on the restarted node");
    }
    assert_eq!(writer.settled(&[b"SET", b"after", b"1"]), "OK");
    until("the follower follows on", 30, || reader.settled(&[b"GET", b"after"]) == "1");
}
