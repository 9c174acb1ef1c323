//! RESP3 through `HELLO 3`: a client of the `redis` crate that asks for
//! RESP3 (as current clients do first) gets it, and the same commands
//! answer the same values as over RESP2 and as a `redis-server` gives
//! them over RESP3 where one is installed.

mod common;
mod compare;

use compare::{R, Servers, Want, bulk, error, int, nil, ok};
use core::time::Duration;

fn resp3(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/?protocol=resp3")).unwrap();
    let conn = c.get_connection().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    conn
}

#[test]
fn a_resp3_client_is_answered_in_resp3_as_redis_answers_it() {
    let servers = Servers::start("resp3");
    let mut t = servers.session(1, resp3);
    // The crate sent HELLO 3 on connecting; HELLO alone says what is in use.
    let hello = compare::run(&mut t.synod, &[b"HELLO".to_vec()]);
    let R::Map(fields) = hello else { panic!("HELLO is not a map in RESP3: {hello:?}") };
    assert!(fields.contains(&(R::Bulk(b"proto".to_vec()), R::Int(3))), "{fields:?}");
    t.s(&["SET", "a", "1"], ok());
    t.s(&["GET", "a"], bulk("1"));
    t.s(&["GET", "missing"], nil());
    t.s(&["INCR", "a"], int(2));
    t.s(&["MGET", "a", "missing"], Want::Is(R::Array(vec![R::Bulk(b"2".to_vec()), R::Nil])));
    t.s(&["INCR", "nosuch", "x"], error("ERR wrong number of arguments for 'incr' command"));
    t.s(&["WATCH", "a"], ok());
    t.s(&["SET", "a", "3"], ok());
    t.s(&["MULTI"], ok());
    t.s(&["GET", "a"], Want::Is(R::Status("QUEUED".into())));
    t.s(&["EXEC"], nil());
    // A one-field hash, so Redis's order and synod's agree.
    t.s(&["HSET", "h", "f", "v"], int(1));
    t.s(&["HGETALL", "h"], Want::Is(R::Map(vec![(R::Bulk(b"f".to_vec()), R::Bulk(b"v".to_vec()))])));
    t.s(&["HKEYS", "h"], Want::Is(R::Array(vec![R::Bulk(b"f".to_vec())])));
    t.s(&["HELLO", "4"], error("NOPROTO unsupported protocol version"));
    t.s(&["HELLO", "x"], error("ERR Protocol version is not an integer or out of range"));
    // Back to RESP2 on the same connection.
    let hello2 = compare::run(&mut t.synod, &[b"HELLO".to_vec(), b"2".to_vec()]);
    assert!(matches!(&hello2, R::Array(items) if items.contains(&R::Int(2))), "{hello2:?}");
    println!("{} steps agreed", t.steps);
}
