//! `CLIENT SETNAME/GETNAME/ID/INFO/LIST` remember what connections told
//! them: a name set on one connection shows in another's `CLIENT LIST`,
//! with its address and protocol, until that connection closes.

mod common;

use common::{Scratch, client, cluster, free_ports, retry};

fn list(c: &mut redis::Connection) -> String {
    redis::cmd("CLIENT").arg("LIST").query(c).unwrap()
}

#[test]
fn client_list_shows_every_connection_with_what_it_said() {
    let dir = Scratch::new("client-list");
    let port = free_ports(1);
    let _synod = cluster(&dir.0, port, 1);
    let _: () = retry(port, redis::cmd("SET").arg("warmup").arg("1"));
    let mut a = client(port);
    let mut b = client(port);
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("worker-a").query(&mut a).unwrap();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut a).unwrap();
    assert_eq!(name.as_deref(), Some("worker-a"));
    let a_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut a).unwrap();
    let seen = list(&mut b);
    let line = seen.lines().find(|l| l.starts_with(&format!("id={a_id} "))).unwrap_or_else(|| panic!("{seen}"));
    assert!(
        line.contains(" name=worker-a ") && line.contains(" addr=127.0.0.1:") && line.contains(" resp=2"),
        "{line}"
    );
    let only: String = redis::cmd("CLIENT").arg("LIST").arg("ID").arg(a_id).query(&mut b).unwrap();
    assert_eq!(only.lines().count(), 1, "{only}");
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    assert!(info.starts_with(&format!("id={a_id} ")) && info.contains("name=worker-a"), "{info}");
    drop(a);
    // The server notices the close when it reads end of stream.
    let deadline = std::time::Instant::now() + core::time::Duration::from_secs(10);
    while list(&mut b).contains(&format!("id={a_id} ")) {
        assert!(std::time::Instant::now() < deadline, "a closed connection stays listed");
        std::thread::sleep(core::time::Duration::from_millis(50));
    }
}
