#!/usr/bin/env bash
# Two builds of the synod server under the same load, in one run: the
# kvbench put workload and redis-benchmark's standard tests, alternating
# builds round by round so drift on a shared machine falls on both.
# Usage: bench/scripts/kv-before-after.sh OLD_BINARY NEW_BINARY [OPS] [ROUNDS]
# OLD_FLAGS / NEW_FLAGS add `synod cluster` flags to either side: the same
# binary twice with OLD_FLAGS="--transport tcp-insecure" measures what
# mutual TLS between the nodes costs.
# Needs protobuf-compiler (for kvbench) and redis-tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=$1
NEW=$2
OPS=${3:-40000}
ROUNDS=${4:-2}
work=$(mktemp -d)
KVBENCH_TARGET=${KVBENCH_TARGET:-$work/kvbench-target}
( cd ../shared/tools/kvbench && CARGO_TARGET_DIR=$KVBENCH_TARGET cargo build --release -q )
kv=$KVBENCH_TARGET/release/kvbench
cleanup() { kill -9 "${pid:-0}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

run() { # label binary flags
  local label=$1 bin=$2 flags=$3
  rm -rf "$work/data"
  # shellcheck disable=SC2086 # flags are words
  "$bin" cluster --nodes 3 --data-dir "$work/data" --resp-port 17601 $flags >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do redis-cli -p 17601 SET ready 1 2>/dev/null | grep -q OK && break; sleep 0.2; done
  for clients in 1 64; do
    n=$OPS; [ "$clients" = 1 ] && n=$((OPS / 10))
    "$kv" --target resp --endpoints 127.0.0.1:17601,127.0.0.1:17602,127.0.0.1:17603 --clients $clients --ops $n --value-size 256 \
      | sed "s/^/$label kvbench /"
  done
  redis-benchmark -p 17601 -t ping,set,get,incr -n 20000 -c 50 -q 2>&1 | tr '\r' '\n' | grep -v '^$' | grep -v 'rps=' \
    | sed "s/^/$label redis-benchmark /"
  kill -9 $pid; wait $pid 2>/dev/null || true
}

echo "# $(date -u '+%F %H:%M') $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/ *Model name: *//'), rustc $(rustc --version | cut -d' ' -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  run "old#$r" "$OLD" "${OLD_FLAGS:-}"
  run "new#$r" "$NEW" "${NEW_FLAGS:-}"
done
