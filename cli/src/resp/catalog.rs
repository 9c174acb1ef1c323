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
    /// `COMMAND DOCS`'s group: Redis's name for its family (`string`,
    /// `hash`, `generic`, …), or `synod` for synod's own commands.
    pub group: &'static str,
    /// `COMMAND DOCS`'s one-line summary, of what synod does.
    pub summary: &'static str,
}

const fn read(
    name: &'static str,
    arity: i64,
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Entry {
    Entry { name, arity, write: false, keys, group, summary }
}

const fn write(
    name: &'static str,
    arity: i64,
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Entry {
    Entry { name, arity, write: true, keys, group, summary }
}

const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);

/// The commands, by name.
pub(crate) const COMMANDS: &[Entry] = &[
    write("append", 3, ONE, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    read("auth", -2, NONE, "connection", "Authenticates the connection."),
    write("cas", 4, ONE, "synod", "Sets a key to a new value only if it holds the expected one (synod)."),
    read("client", -2, NONE, "connection", "Names, identifies and lists client connections."),
    read("command", -1, NONE, "server", "Returns detailed information about the commands served."),
    read("config", -2, NONE, "server", "Answers the configuration parameters clients ask for at start."),
    read("dbsize", 1, NONE, "server", "Returns the number of keys."),
    write("decr", 2, ONE, "string", "Decrements the integer value of a key by one."),
    write("decrby", 3, ONE, "string", "Decrements a number from the integer value of a key."),
    write("del", -2, ALL, "generic", "Deletes one or more keys, in one log entry."),
    read("discard", 1, NONE, "transactions", "Discards a transaction."),
    read("echo", 2, NONE, "connection", "Returns the given string."),
    read("exec", 1, NONE, "transactions", "Executes all commands in a transaction, as one log entry."),
    read("exists", -2, ALL, "generic", "Determines whether one or more keys exist."),
    write("expire", -3, ONE, "generic", "Sets the expiration time of a key in seconds."),
    write("expireat", -3, ONE, "generic", "Sets the expiration time of a key to a Unix timestamp."),
    read("expiretime", 2, ONE, "generic", "Returns the expiration time of a key as a Unix timestamp."),
    write("flushall", -1, NONE, "server", "Removes all keys (admin users only)."),
    write("flushdb", -1, NONE, "server", "Removes all keys of the one database (admin users only)."),
    read("get", 2, ONE, "string", "Returns the string value of a key."),
    write("getdel", 2, ONE, "string", "Returns the string value of a key after deleting the key."),
    write("getex", -2, ONE, "string", "Returns the string value of a key after setting its expiration time."),
    read("getrange", 4, ONE, "string", "Returns a substring of the string stored at a key."),
    write("getset", 3, ONE, "string", "Returns the previous string value of a key after setting it to a new value."),
    write(
        "hdel",
        -3,
        ONE,
        "hash",
        "Deletes one or more fields and their values from a hash; the last one deletes the key.",
    ),
    read("hello", -1, NONE, "connection", "Handshakes with the server: protocol version, authentication, name."),
    read("hexists", 3, ONE, "hash", "Determines whether a field exists in a hash."),
    read("hget", 3, ONE, "hash", "Returns the value of a field in a hash."),
    read("hgetall", 2, ONE, "hash", "Returns all fields and values in a hash."),
    write("hincrby", 4, ONE, "hash", "Increments the integer value of a field in a hash by a number."),
    write("hincrbyfloat", 4, ONE, "hash", "Increments the floating point value of a field by a number."),
    read("hkeys", 2, ONE, "hash", "Returns all fields in a hash."),
    read("hlen", 2, ONE, "hash", "Returns the number of fields in a hash."),
    read("hmget", -3, ONE, "hash", "Returns the values of all fields in a hash."),
    write("hmset", -4, ONE, "hash", "Sets the values of multiple fields."),
    read("hscan", -3, ONE, "hash", "Iterates over fields and values of a hash."),
    write("hset", -4, ONE, "hash", "Creates or modifies the value of a field in a hash."),
    write("hsetnx", 4, ONE, "hash", "Sets the value of a field in a hash only when the field doesn't exist."),
    read("hstrlen", 3, ONE, "hash", "Returns the length of the value of a field."),
    read("hvals", 2, ONE, "hash", "Returns all values in a hash."),
    write("incr", 2, ONE, "string", "Increments the integer value of a key by one."),
    write("incrby", 3, ONE, "string", "Increments the integer value of a key by a number."),
    write("incrbyfloat", 3, ONE, "string", "Increments the floating point value of a key by a number."),
    read("info", -1, NONE, "server", "Returns information and statistics about the node and its cluster."),
    read("keys", 2, NONE, "generic", "Returns all key names that match a pattern."),
    write("lease", -2, NONE, "synod", "Grants, keeps alive, revokes, lists and times leases (synod)."),
    write(
        "lock",
        3,
        NONE,
        "synod",
        "Acquires a lock held by a lease, waiting in line; answers a fencing token (synod).",
    ),
    read("lockowner", 2, NONE, "synod", "Returns the lease and fencing token holding a lock (synod)."),
    read("mget", -2, ALL, "string", "Atomically returns the string values of one or more keys."),
    write("mset", -3, (1, -1, 2), "string", "Atomically creates or modifies the string values of one or more keys."),
    write("msetnx", -3, (1, -1, 2), "string", "Atomically sets several keys only when none of them exists."),
    read("multi", 1, NONE, "transactions", "Starts a transaction."),
    write("persist", 2, ONE, "generic", "Removes the expiration time of a key."),
    write("pexpire", -3, ONE, "generic", "Sets the expiration time of a key in milliseconds."),
    write("pexpireat", -3, ONE, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    read("pexpiretime", 2, ONE, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    read("ping", -1, NONE, "connection", "Returns the server's liveliness response."),
    write("psetex", 4, ONE, "string", "Sets the string value and expiration time in milliseconds of a key."),
    read("pttl", 2, ONE, "generic", "Returns the expiration time in milliseconds of a key."),
    read("quit", -1, NONE, "connection", "Closes the connection."),
    read("readonly", 1, NONE, "cluster", "Serves this connection's reads from the node it is on, still linearizable."),
    read("readwrite", 1, NONE, "cluster", "Serves this connection's reads through the leader again."),
    write("rename", 3, (1, 2, 1), "generic", "Renames a key and overwrites the destination."),
    write("renamenx", 3, (1, 2, 1), "generic", "Renames a key only when the target key name doesn't exist."),
    read("scan", -2, NONE, "generic", "Iterates over the key names."),
    read("select", 2, NONE, "connection", "Selects the one database, 0."),
    write(
        "set",
        -3,
        ONE,
        "string",
        "Sets the string value of a key, ignoring its type. Creates the key if it doesn't exist.",
    ),
    write("setex", 4, ONE, "string", "Sets the string value and expiration time of a key."),
    write("setnx", 3, ONE, "string", "Sets the string value of a key only when the key doesn't exist."),
    write("setrange", 4, ONE, "string", "Overwrites a part of a string value with another by an offset."),
    read("strlen", 2, ONE, "string", "Returns the length of a string value."),
    write("synod.backup", -2, NONE, "synod", "Streams a consistent snapshot of the store (synod, admin)."),
    write("synod.leader", -3, NONE, "synod", "Transfers leadership to another member (synod, admin)."),
    write("synod.member", -2, NONE, "synod", "Lists, adds, promotes and removes members (synod, admin)."),
    write("synod.seq", -4, NONE, "synod", "Runs a command at most once, numbered in a client session (synod)."),
    write("synod.session", -2, NONE, "synod", "Opens and closes an exactly-once client session (synod)."),
    read("synod.status", 1, NONE, "synod", "Returns this node's view of the cluster as JSON (synod)."),
    write("trylock", 3, NONE, "synod", "Acquires a lock held by a lease if it is free (synod)."),
    read("ttl", 2, ONE, "generic", "Returns the expiration time in seconds of a key."),
    read("type", 2, ONE, "generic", "Determines the type of value stored at a key."),
    write("unlink", -2, ALL, "generic", "Deletes one or more keys, in one log entry."),
    write("unlock", 4, NONE, "synod", "Releases a lock, naming the fencing token it was given (synod)."),
    read("unwatch", 1, NONE, "transactions", "Forgets about watched keys of a transaction."),
    read("watch", -2, ALL, "transactions", "Monitors changes to keys to determine the execution of a transaction."),
];

/// The entry for `name`, in any case.
pub(crate) fn find(name: &str) -> Option<&'static Entry> {
    COMMANDS.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}

/// `COMMAND DOCS`'s answer for one command: its name, then its doc as
/// pairs (`summary`, `group`; synod does not describe arguments).
pub(crate) fn docs(e: &Entry) -> [BytesFrame; 2] {
    let text = |s: &'static str| bulk(Bytes::from_static(s.as_bytes()));
    [text(e.name), array(vec![text("summary"), text(e.summary), text("group"), text(e.group)])]
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
