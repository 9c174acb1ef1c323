#!/usr/bin/env bash
# redis-benchmark's standard tests against a 3-node `synod cluster` and a
# durable redis-server (appendfsync always) on the same machine, in
# alternating rounds; prints each round's requests per second per test.
#   bench/scripts/redis-benchmark-pair.sh [SYNOD_BIN] [REQUESTS] [ROUNDS] [TESTS]
set -euo pipefail
bin=${1:-target/release/synod}
n=${2:-20000}
rounds=${3:-3}
tests=${4:-ping,set,get,incr,mset,hset}
data=$(mktemp -d)
sport=17301
rport=17401
"$bin" cluster --nodes 3 --data-dir "$data/synod" --resp-port $sport >"$data/synod.log" 2>&1 &
spid=$!
redis-server --port $rport --appendonly yes --appendfsync always --save '' --dir "$data" >"$data/redis.log" 2>&1 &
rpid=$!
trap 'kill -9 $spid $rpid 2>/dev/null || true; rm -rf "$data"' EXIT
for port in $sport $rport; do
  for _ in $(seq 1 100); do
    redis-cli -p $port SET warmup 1 2>/dev/null | grep -q OK && break
    sleep 0.2
  done
done
run() {
  redis-benchmark -p "$1" -t "$tests" -n "$n" -c 50 -q 2>&1 | tr '\r' '\n' | grep -E '^[A-Z_]+( \([0-9]+ keys\))?: ' \
    | grep -v 'rps=' | sed -E 's/^([A-Z_]+)( \([0-9]+ keys\))?: ([0-9.]+) requests per second.*/\1 \3/'
}
for r in $(seq 1 "$rounds"); do
  run $sport | sed "s/^/round $r synod /"
  run $rport | sed "s/^/round $r redis /"
done
