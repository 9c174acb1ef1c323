//! Exactly-once writes over RESP (`SYNOD.SESSION`, `SYNOD.SEQ`): a retried
//! write is answered from its session and applied once, on any node, and a
//! client that retries through a leader's death ends with every increment
//! applied exactly once. A plain retry, outside a session, applies twice.

mod common;

use common::{Raw, Scratch, cluster, free_ports, leader_of, three_nodes};
use core::time::Duration;
use std::time::Instant;

#[test]
fn a_retried_sessioned_write_is_applied_once_and_a_plain_retry_twice() {
    let dir = Scratch::new("sessions");
    let port = free_ports(3);
    let _c = cluster(&dir.0, port, 3);
    let mut one = Raw::connect(port);
    let mut two = Raw::connect(port + 1);
    let c = one.settled(&[b"SYNOD.SESSION", b"OPEN"]);
    let c = c.as_bytes();
    assert!(c.iter().all(u8::is_ascii_digit), "a session id: {c:?}");
    assert_eq!(one.settled(&[b"SYNOD.SEQ", c, b"1", b"INCR", b"n"]), "1");
    // The reply was lost; the client retries the same command on another
    // node: answered from the session, applied nothing.
    assert_eq!(two.settled(&[b"SYNOD.SEQ", c, b"1", b"INCR", b"n"]), "1");
    assert_eq!(two.settled(&[b"GET", b"n"]), "1");
    // The canary: the same retry outside a session applies twice.
    assert_eq!(one.settled(&[b"INCR", b"m"]), "1");
    assert_eq!(two.settled(&[b"INCR", b"m"]), "2");

    assert_eq!(two.settled(&[b"SYNOD.SEQ", c, b"2", b"SET", b"k", b"v", b"GET"]), "(nil)");
    assert_eq!(one.settled(&[b"SYNOD.SEQ", c, b"2", b"SET", b"k", b"v", b"GET"]), "(nil)", "the saved reply");
    assert_eq!(
        one.settled(&[b"SYNOD.SEQ", c, b"1", b"INCR", b"n"]),
        "STALESEQ sequence number below the session's last; nothing applied"
    );
    assert_eq!(one.settled(&[b"GET", b"n"]), "1");
    // Only store writes have a reply to save.
    for (cmd, why) in [
        (&[&b"SYNOD.SEQ"[..], c, b"3", b"GET", b"n"][..], "ERR SYNOD.SEQ takes a store write; 'get' is not one"),
        (
            &[b"SYNOD.SEQ", c, b"3", b"SYNOD.SESSION", b"CLOSE", c],
            "ERR SYNOD.SEQ takes a store write; 'synod.session' is not one",
        ),
        (
            &[b"SYNOD.SEQ", c, b"3", b"SYNOD.SEQ", c, b"4", b"INCR", b"n"],
            "ERR SYNOD.SEQ takes a store write; 'synod.seq' is not one",
        ),
        (
            &[b"SYNOD.SEQ", c, b"18446744073709551616", b"INCR", b"n"],
            "ERR session ids and sequence numbers are integers from 1",
        ),
        (&[b"SYNOD.SEQ", c, b"-1", b"INCR", b"n"], "ERR session ids and sequence numbers are integers from 1"),
        (&[b"SYNOD.SEQ", c, b"3", b"NOPE"], "ERR unknown command 'nope'"),
        (&[b"SYNOD.SEQ", c, b"0", b"INCR", b"n"], "ERR session ids and sequence numbers are integers from 1"),
        (&[b"SYNOD.SEQ", b"x", b"3", b"INCR", b"n"], "ERR session ids and sequence numbers are integers from 1"),
        (&[b"SYNOD.SEQ", c, b"3"], "ERR wrong number of arguments for 'synod.seq' command"),
        (&[b"SYNOD.SEQ", c, b"3", b"INCR"], "ERR wrong number of arguments for 'incr' command"),
        (&[b"SYNOD.SESSION", b"SHUT"], "ERR syntax error: SYNOD.SESSION OPEN | CLOSE <id>"),
    ] {
        assert_eq!(one.text(cmd), why, "{cmd:?}");
    }
    assert_eq!(one.settled(&[b"SYNOD.SESSION", b"CLOSE", c]), "1");
    assert_eq!(one.settled(&[b"SYNOD.SESSION", b"CLOSE", c]), "0");
    assert!(two.settled(&[b"SYNOD.SEQ", c, b"3", b"INCR", b"n"]).starts_with("SESSIONGONE "));
    assert!(one.settled(&[b"SYNOD.SEQ", b"999", b"1", b"INCR", b"n"]).starts_with("SESSIONGONE "));
    assert_eq!(one.settled(&[b"GET", b"n"]), "1");
}

/// One client increments a counter 300 times through a follower, each as
/// the next command of its session, retrying every error with the same
/// number; the leader is killed (SIGKILL) a third of the way in. Every
/// increment must be answered with its own count — none lost, none twice —
/// and none with an error: the follower sends a sessioned write on to the
/// new leader itself.
#[test]
fn sessioned_increments_through_a_leader_kill_apply_exactly_once() {
    let dir = Scratch::new("sessions-kill");
    let (peer, resp) = (free_ports(3), free_ports(3));
    let (mut nodes, old) = three_nodes(&dir.0, peer, resp);
    let mut up = [true; 3];
    let follower = (old + 1) % 3;
    let mut c = Raw::connect(resp + follower);
    let session = c.settled(&[b"SYNOD.SESSION", b"OPEN"]);
    let mut errors = Vec::new();
    for i in 1..=300u32 {
        if i == 100 {
            nodes[old as usize].kill();
            up[old as usize] = false;
        }
        let seq = i.to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        let answer = loop {
            let t = c.text(&[b"SYNOD.SEQ", session.as_bytes(), seq.as_bytes(), b"INCR", b"n"]);
            if t.parse::<u32>().is_ok() {
                break t;
            }
            assert!(!t.starts_with("SESSIONGONE") && !t.starts_with("STALESEQ"), "increment {i}: {t}");
            assert!(Instant::now() < deadline, "increment {i} never answered: {t}");
            errors.push(t);
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(answer, seq, "increment {i} was answered with another count");
    }
    assert_eq!(c.settled(&[b"GET", b"n"]), "300");
    let new = leader_of(resp, &up);
    assert!(new.is_some_and(|n| n != old), "a new leader took over");
    // The node sent the write on to the new leader itself: the client
    // never had to retry.
    assert!(errors.is_empty(), "the client saw {errors:?}");
}
