//! Every command the front end answers, as Redis's `COMMAND INFO`
//! describes one: the one list that `COMMAND COUNT`/`INFO` and the metrics
//! labels read, so none of them can claim a command that is not served.

use super::reply::{array, bulk, int, simple};
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;

/// One command.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// Lower-case, as Redis names it.
    pub name: &'static str,
    /// Arguments counting the name; negative: at least that many.
    pub arity: i64,
    /// Changes data (`write`) or only reads it (`readonly`).
    pub write: bool,
    /// Position of the first key, the last (negative: from the end), and
    /// the step between keys; 0, 0, 0 without keys.
    pub keys: (i64, i64, i64),
}

const fn read(name: &'static str, arity: i64, keys: (i64, i64, i64)) -> Entry {
    Entry { name, arity, write: false, keys }
}

const fn write(name: &'static str, arity: i64, keys: (i64, i64, i64)) -> Entry {
    Entry { name, arity, write: true, keys }
}

const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);

/// The commands, by name.
pub(crate) const COMMANDS: &[Entry] = &[
    write("append", 3, ONE),
    read("auth", -2, NONE),
    write("cas", 4, ONE),
    read("client", -2, NONE),
    read("command", -1, NONE),
    read("config", -2, NONE),
    read("dbsize", 1, NONE),
    write("decr", 2, ONE),
    write("decrby", 3, ONE),
    write("del", -2, ALL),
    read("discard", 1, NONE),
    read("echo", 2, NONE),
    read("exec", 1, NONE),
    read("exists", -2, ALL),
    write("expire", -3, ONE),
    write("expireat", -3, ONE),
    read("expiretime", 2, ONE),
    write("flushall", -1, NONE),
    write("flushdb", -1, NONE),
    read("get", 2, ONE),
    write("getdel", 2, ONE),
    write("getex", -2, ONE),
    read("getrange", 4, ONE),
    write("getset", 3, ONE),
    write("hdel", -3, ONE),
    read("hello", -1, NONE),
    read("hexists", 3, ONE),
    read("hget", 3, ONE),
    read("hgetall", 2, ONE),
    write("hincrby", 4, ONE),
    write("hincrbyfloat", 4, ONE),
    read("hkeys", 2, ONE),
    read("hlen", 2, ONE),
    read("hmget", -3, ONE),
    write("hmset", -4, ONE),
    read("hscan", -3, ONE),
    write("hset", -4, ONE),
    write("hsetnx", 4, ONE),
    read("hstrlen", 3, ONE),
    read("hvals", 2, ONE),
    write("incr", 2, ONE),
    write("incrby", 3, ONE),
    write("incrbyfloat", 3, ONE),
    read("info", -1, NONE),
    read("keys", 2, NONE),
    write("lease", -2, NONE),
    write("lock", 3, NONE),
    read("lockowner", 2, NONE),
    read("mget", -2, ALL),
    write("mset", -3, (1, -1, 2)),
    write("msetnx", -3, (1, -1, 2)),
    read("multi", 1, NONE),
    write("persist", 2, ONE),
    write("pexpire", -3, ONE),
    write("pexpireat", -3, ONE),
    read("pexpiretime", 2, ONE),
    read("ping", -1, NONE),
    write("psetex", 4, ONE),
    read("pttl", 2, ONE),
    read("quit", -1, NONE),
    read("readonly", 1, NONE),
    read("readwrite", 1, NONE),
    write("rename", 3, (1, 2, 1)),
    write("renamenx", 3, (1, 2, 1)),
    read("scan", -2, NONE),
    read("select", 2, NONE),
    write("set", -3, ONE),
    write("setex", 4, ONE),
    write("setnx", 3, ONE),
    write("setrange", 4, ONE),
    read("strlen", 2, ONE),
    write("synod.backup", -2, NONE),
    write("synod.leader", -3, NONE),
    write("synod.member", -2, NONE),
    write("synod.seq", -4, NONE),
    write("synod.session", -2, NONE),
    read("synod.status", 1, NONE),
    write("trylock", 3, NONE),
    read("ttl", 2, ONE),
    read("type", 2, ONE),
    write("unlink", -2, ALL),
    write("unlock", 4, NONE),
    read("unwatch", 1, NONE),
    read("watch", -2, ALL),
];

/// The entry for `name`, in any case.
pub(crate) fn find(name: &str) -> Option<&'static Entry> {
    COMMANDS.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}

/// `COMMAND INFO`'s answer for one command: name, arity, flags, first key,
/// last key, step, then ACL categories, tips, key specs and subcommands,
/// which synod does not describe (empty).
pub(crate) fn info(e: &Entry) -> BytesFrame {
    let flag = if e.write { "write" } else { "readonly" };
    array(vec![
        bulk(Bytes::from_static(e.name.as_bytes())),
        int(e.arity),
        array(vec![simple(flag)]),
        int(e.keys.0),
        int(e.keys.1),
        int(e.keys.2),
        array(Vec::new()),
        array(Vec::new()),
        array(Vec::new()),
        array(Vec::new()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_unique_and_lower_case() {
        for pair in COMMANDS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        assert!(COMMANDS.iter().all(|e| e.name == e.name.to_ascii_lowercase()));
    }
}
