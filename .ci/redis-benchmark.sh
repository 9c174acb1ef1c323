#!/usr/bin/env bash
# redis-benchmark's standard tests against a local synod cluster: every
# request must succeed (redis-benchmark prints errors and exits non-zero
# on protocol failures).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/synod
[ -x "$bin" ] || cargo build --release -q -p synod
data=$(mktemp -d)
port=17101
"$bin" cluster --nodes 3 --data-dir "$data" --resp-port $port >"$data/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  redis-cli -p $port PING 2>/dev/null | grep -q PONG && break
  sleep 0.2
done
redis-cli -p $port SET warmup 1 | grep -q OK
out=$(redis-benchmark -p $port -t ping,set,get,incr,mset -n 2000 -c 8 -q 2>&1 | tr '\r' '\n' | grep -v '^$' | grep -v 'rps=')
echo "$out"
if echo "$out" | grep -qi "error"; then
  echo "redis-benchmark reported errors" >&2
  exit 1
fi
for t in PING_INLINE PING_MBULK SET GET INCR MSET; do
  # MSET reports as "MSET (10 keys): …".
  echo "$out" | grep -qE "^$t( \([0-9]+ keys\))?: " || { echo "redis-benchmark did not complete $t" >&2; exit 1; }
done
