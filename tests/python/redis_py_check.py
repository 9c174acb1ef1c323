"""A new user's first hour with synod through redis-py, the most used
Python client: strings and keys, the default (transactional) pipeline,
and optimistic locking with WATCH from several threads.

Run by .ci/redis-py.sh against a running `synod cluster`:
    python3 tests/python/redis_py_check.py PORT [PORT ...]
Exits non-zero on the first reply that is not what Redis gives.
"""

import sys
import threading

import redis


def main(ports):
    r = redis.Redis(port=ports[0])
    checks = 0

    def check(got, want, what):
        nonlocal checks
        if got != want:
            sys.exit(f"{what}: got {got!r}, want {want!r}")
        checks += 1

    check(r.ping(), True, "PING")
    check(r.set("a", "1"), True, "SET")
    check(r.get("a"), b"1", "GET")
    check(r.incr("a"), 2, "INCR")
    check(r.set("t", "v", ex=100), True, "SET EX")
    check(r.ttl("t") in (99, 100), True, "TTL")
    check(r.setnx("n", "1"), True, "SETNX")
    check(r.setnx("n", "2"), False, "SETNX taken")
    check(r.mset({"m1": "x", "m2": "y"}), True, "MSET")
    check(r.mget("m1", "m2", "m0"), [b"x", b"y", None], "MGET")
    check(r.getdel("m1"), b"x", "GETDEL")
    check(r.append("ap", "Hello"), 5, "APPEND")
    check(r.expire("ap", 50), True, "EXPIRE")
    check(r.persist("ap"), True, "PERSIST")
    check(r.type("ap"), b"string", "TYPE")
    check(r.rename("ap", "ap2"), True, "RENAME")
    check(r.exists("ap", "ap2"), 1, "EXISTS")
    check(r.delete("ap2", "n"), 2, "DEL")
    for i in range(30):
        r.set(f"scan:{i}", i)
    check(len(set(r.scan_iter(match="scan:*", count=7))), 30, "SCAN iteration")
    check(sorted(r.keys("scan:1*")), sorted(f"scan:{i}".encode() for i in [1] + list(range(10, 20))), "KEYS")

    # Hashes.
    check(r.hset("user:1", mapping={"name": "ada", "visits": "1"}), 2, "HSET mapping")
    check(r.hget("user:1", "name"), b"ada", "HGET")
    check(r.hincrby("user:1", "visits", 2), 3, "HINCRBY")
    check(r.hgetall("user:1"), {b"name": b"ada", b"visits": b"3"}, "HGETALL")
    check(r.hmget("user:1", ["name", "none"]), [b"ada", None], "HMGET")
    check(sorted(r.hkeys("user:1")), [b"name", b"visits"], "HKEYS")
    check(r.hlen("user:1"), 2, "HLEN")
    check(r.hexists("user:1", "name"), True, "HEXISTS")
    check(r.type("user:1"), b"hash", "TYPE of a hash")
    r.hset("wide", mapping={f"f{i}": i for i in range(50)})
    check(len(dict(r.hscan_iter("wide", count=7))), 50, "HSCAN iteration")
    try:
        r.get("user:1")
        sys.exit("GET on a hash answered")
    except redis.ResponseError as e:
        check(str(e).startswith("WRONGTYPE"), True, "WRONGTYPE")
    check(r.hdel("user:1", "name", "visits"), 2, "HDEL")
    check(r.exists("user:1"), 0, "a hash ends with its last field")

    # The default pipeline wraps its commands in MULTI/EXEC.
    p = r.pipeline()
    p.set("p", 10).incr("p", 5).get("p")
    check(p.execute(), [True, 15, b"15"], "transactional pipeline")

    # An error while running is that command's answer; the others run.
    p = r.pipeline()
    p.set("s", "text").incr("s").set("x", "1")
    check(p.execute(raise_on_error=False)[0], True, "pipeline with an error")
    check(r.get("x"), b"1", "the write after the error ran")

    # WATCH from several threads on several nodes: r.transaction retries
    # on WatchError; no increment may be lost.
    r.set("counter", 0)
    threads, rounds = 4, 20

    def add_one(pipe):
        v = int(pipe.get("counter") or 0)
        pipe.multi()
        pipe.set("counter", v + 1)

    def worker(i):
        c = redis.Redis(port=ports[i % len(ports)])
        for _ in range(rounds):
            c.transaction(add_one, "counter")

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(int(r.get("counter")), threads * rounds, "increments under WATCH")

    # A watched key changed by another client: the transaction aborts.
    other = redis.Redis(port=ports[-1])
    with r.pipeline() as pipe:
        pipe.watch("w")
        other.set("w", "theirs")
        pipe.multi()
        pipe.set("w", "mine")
        try:
            pipe.execute()
            sys.exit("EXEC ran over a changed watched key")
        except redis.WatchError:
            checks += 1
    check(r.get("w"), b"theirs", "the aborted transaction wrote nothing")
    print(f"redis-py {redis.__version__}: {checks} checks passed")


if __name__ == "__main__":
    main([int(p) for p in sys.argv[1:]])
