#!/usr/bin/env bash
# synod vs etcd vs redis-server with the same kvbench workload, in one run.
# Usage: bench/scripts/kv-vs-etcd.sh [OPS] — needs etcd-server, etcd-client,
# redis-server, protobuf-compiler, and ../shared/tools/kvbench.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPS=${1:-20000}
work=$(mktemp -d)
KVBENCH_TARGET=${KVBENCH_TARGET:-$work/kvbench-target}
( cd ../shared/tools/kvbench && CARGO_TARGET_DIR=$KVBENCH_TARGET cargo build --release -q )
kv=$KVBENCH_TARGET/release/kvbench
cargo build --release -q -p synod
cleanup() {
  kill -9 "${synod_pid:-0}" "${redis_pid:-0}" 2>/dev/null || true
  ../shared/tools/etcd3.sh stop "$work/etcd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

target/release/synod cluster --nodes 3 --data-dir "$work/synod" --resp-port 17401 >"$work/synod.log" 2>&1 &
synod_pid=$!
../shared/tools/etcd3.sh start "$work/etcd"
redis-server --port 17501 --save '' --appendonly yes --appendfsync always --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p 17401 SET ready 1 2>/dev/null | grep -q OK && break; sleep 0.2; done
for _ in $(seq 1 50); do redis-cli -p 17501 PING 2>/dev/null | grep -q PONG && break; sleep 0.2; done

echo "# $(date -u +%F) $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/ *Model name: *//'), rustc $(rustc --version | cut -d' ' -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
for clients in 1 64 256; do
  n=$OPS; [ "$clients" = 1 ] && n=$((OPS / 10))
  "$kv" --target resp --endpoints 127.0.0.1:17401,127.0.0.1:17402,127.0.0.1:17403 --clients $clients --ops $n --value-size 256 | sed 's/^/synod /'
  "$kv" --target etcd --endpoints 127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379 --clients $clients --ops $n --value-size 256 | sed 's/^/etcd  /'
  "$kv" --target resp --endpoints 127.0.0.1:17501 --clients $clients --ops $n --value-size 256 | sed 's/^/redis /'
done
