#!/usr/bin/env bash
# Linearizable GETs: synod with lease reads (the default), synod with
# read-index, synod with lease reads and reads served where they land
# (--reads-at this-node), and a 3-member etcd, same kvbench workload, one run.
# Usage: bench/scripts/kv-reads.sh [OPS] — needs etcd-server, etcd-client,
# protobuf-compiler, and ../shared/tools/kvbench.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPS=${1:-100000}
KEYS=10000
work=$(mktemp -d)
KVBENCH_TARGET=${KVBENCH_TARGET:-$work/kvbench-target}
( cd ../shared/tools/kvbench && CARGO_TARGET_DIR=$KVBENCH_TARGET cargo build --release -q )
kv=$KVBENCH_TARGET/release/kvbench
cargo build --release -q -p synod
cleanup() {
  kill -9 "${synod_pid:-0}" 2>/dev/null || true
  ../shared/tools/etcd3.sh stop "$work/etcd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

synod_endpoints=127.0.0.1:17401,127.0.0.1:17402,127.0.0.1:17403
etcd_endpoints=127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/ *Model name: *//'), rustc $(rustc --version | cut -d' ' -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"

# One synod cluster per read mode; the keys are written first, so every
# GET finds a 256-byte value.
for mode in lease read-index lease-this-node; do
  flags="--read-mode ${mode%-this-node}"
  [ "$mode" = lease-this-node ] && flags="$flags --reads-at this-node"
  # shellcheck disable=SC2086
  target/release/synod cluster --nodes 3 --data-dir "$work/synod-$mode" --resp-port 17401 $flags >"$work/synod-$mode.log" 2>&1 &
  synod_pid=$!
  for _ in $(seq 1 100); do redis-cli -p 17401 SET ready 1 2>/dev/null | grep -q OK && break; sleep 0.2; done
  "$kv" --target resp --endpoints $synod_endpoints --clients 64 --ops $((KEYS * 2)) --keyspace $KEYS --value-size 256 >/dev/null
  for clients in 1 64; do
    n=$OPS; [ "$clients" = 1 ] && n=$((OPS / 10))
    "$kv" --target resp --endpoints $synod_endpoints --clients $clients --ops $n --keyspace $KEYS --value-size 256 --op get | sed "s/^/synod-$mode clients=$clients /"
  done
  kill -9 $synod_pid; wait $synod_pid 2>/dev/null || true
done

../shared/tools/etcd3.sh start "$work/etcd" >/dev/null
"$kv" --target etcd --endpoints $etcd_endpoints --clients 64 --ops $((KEYS * 2)) --keyspace $KEYS --value-size 256 >/dev/null
for clients in 1 64; do
  n=$OPS; [ "$clients" = 1 ] && n=$((OPS / 10))
  "$kv" --target etcd --endpoints $etcd_endpoints --clients $clients --ops $n --keyspace $KEYS --value-size 256 --op get | sed "s/^/etcd clients=$clients /"
done
