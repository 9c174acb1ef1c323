#!/usr/bin/env bash
# A short redis-py session against a local synod cluster (issue 27): the
# calls a Python user makes first, its default transactional pipeline,
# and WATCH under contention.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/synod
[ -x "$bin" ] || cargo build --release -q -p synod
data=$(mktemp -d)
port=17201
"$bin" cluster --nodes 3 --data-dir "$data" --resp-port $port >"$data/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  redis-cli -p $port SET warmup 1 2>/dev/null | grep -q OK && break
  sleep 0.2
done
# The system Python, where apt installs python3-redis.
/usr/bin/python3 tests/python/redis_py_check.py $port $((port + 1)) $((port + 2))
