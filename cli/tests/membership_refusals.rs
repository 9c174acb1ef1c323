//! Membership commands that must not change anything: malformed, asked
//! of a protocol that cannot reconfigure, or by a user who may not.

mod common;

use common::{Scratch, cluster_with, free_ports, insecure_flags, retry};

fn error(port: u16, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let mut c = common::client(port);
    match cmd.query::<redis::Value>(&mut c) {
        Ok(v) => panic!("{args:?} was accepted: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_or_impossible_steps_are_refused_with_why() {
    let dir = Scratch::new("member-refusals");
    let port = free_ports(3);
    let flags = insecure_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _c = cluster_with(&dir.0, port, 3, &flags);
    let _: String = retry(port, redis::cmd("SET").arg("k").arg("v"));
    for (args, why) in [
        (&["SYNOD.MEMBER", "ADD", "4", "no-port"][..], "HOST:PORT"),
        (&["SYNOD.MEMBER", "ADD", "4", ":7000"][..], "HOST:PORT"),
        (&["SYNOD.MEMBER", "ADD", "0", "h:1"][..], "positive integer"),
        (&["SYNOD.MEMBER", "ADD", "x", "h:1"][..], "positive integer"),
        (&["SYNOD.MEMBER", "PROMOTE", "9"][..], "node 9 is not a member"),
        (&["SYNOD.MEMBER", "FROB", "9"][..], "usage"),
        (&["SYNOD.MEMBER", "REPLACE", "1"][..], "usage"),
        (&["SYNOD.MEMBER", "REPLACE", "1", "9"][..], "replace takes a voter (1) to remove and a learner (9)"),
        (&["SYNOD.MEMBER", "REPLACE", "2", "2"][..], "replace takes a voter (2)"),
        (&["SYNOD.LEADER", "TRANSFER", "9"][..], "node 9 is not a voter"),
    ] {
        let e = error(port, args);
        assert!(e.contains(why), "{args:?}: {e}");
    }
    let long = format!("{}:1", "h".repeat(400));
    assert!(error(port, &["SYNOD.MEMBER", "ADD", "4", &long]).contains("at most"));
    // Nothing of the above changed the configuration.
    let mut c = common::client(port);
    let list: String = redis::cmd("SYNOD.MEMBER").arg("LIST").query(&mut c).unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["voters"], serde_json::json!([1, 2, 3]));
    assert_eq!(v["learners"], serde_json::json!([]));
}

#[test]
fn multi_paxos_takes_the_same_steps() {
    let dir = Scratch::new("member-paxos");
    let port = free_ports(3);
    let mut flags = insecure_flags();
    flags.extend(["--protocol".into(), "multi-paxos".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _c = cluster_with(&dir.0, port, 3, &flags);
    let _: String = retry(port, redis::cmd("SET").arg("k").arg("v"));
    let list = |c: &mut redis::Connection| -> serde_json::Value {
        let s: String = redis::cmd("SYNOD.MEMBER").arg("LIST").query(c).unwrap();
        serde_json::from_str(&s).unwrap()
    };
    let _: String = retry(port, redis::cmd("SYNOD.MEMBER").arg("ADD").arg("4").arg("127.0.0.1:9"));
    let mut c = common::client(port);
    assert_eq!(list(&mut c)["learners"], serde_json::json!([4]));
    // Promoted through the joint phase: four voters, three of them up.
    let _: String = retry(port, redis::cmd("SYNOD.MEMBER").arg("PROMOTE").arg("4"));
    assert_eq!(list(&mut c)["voters"], serde_json::json!([1, 2, 3, 4]));
    let _: String = retry(port, redis::cmd("SYNOD.MEMBER").arg("REMOVE").arg("4"));
    let v = list(&mut c);
    assert_eq!((&v["voters"], &v["learners"]), (&serde_json::json!([1, 2, 3]), &serde_json::json!([])));
}

#[test]
fn only_an_admin_changes_membership_once_authentication_is_on() {
    let dir = Scratch::new("member-auth");
    let port = free_ports(3);
    let mut flags = insecure_flags();
    flags.extend(["--requirepass".into(), "pw".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _c = cluster_with(&dir.0, port, 3, &flags);
    let client = redis::Client::open(format!("redis://:pw@127.0.0.1:{port}/")).unwrap();
    let deadline = std::time::Instant::now() + core::time::Duration::from_secs(60);
    let mut c = loop {
        if let Ok(c) = client.get_connection() {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "never listened");
        std::thread::sleep(core::time::Duration::from_millis(100));
    };
    let e = redis::cmd("SYNOD.MEMBER").arg("REMOVE").arg("3").query::<String>(&mut c).unwrap_err();
    assert!(e.to_string().contains("admin"), "{e}");
    // Reading the configuration takes no admin.
    let list: String = redis::cmd("SYNOD.MEMBER").arg("LIST").query(&mut c).unwrap();
    assert!(list.contains("\"voters\":[1,2,3]"), "{list}");
}
