#!/usr/bin/env bash
# redis-benchmark's standard tests against a local synod cluster: every
# request must succeed (redis-benchmark prints errors and exits non-zero
# on protocol failures).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/cluster.sh
port=17101
start_cluster $port
out=$(redis-benchmark -p $port -t ping,set,get,incr,mset,hset -n 2000 -c 8 -q 2>&1 | tr '\r' '\n' | grep -v '^$' | grep -v 'rps=')
echo "$out"
# Here-strings, not `echo | grep -q`: under pipefail, grep -q exiting at
# its first match can kill the echo with SIGPIPE and fail the check
# (it did, on a loaded machine, for SET).
if grep -qi "error" <<< "$out"; then
  echo "redis-benchmark reported errors" >&2
  exit 1
fi
for t in PING_INLINE PING_MBULK SET GET INCR MSET HSET; do
  # MSET reports as "MSET (10 keys): …".
  grep -qE "^$t( \([0-9]+ keys\))?: " <<< "$out" || { echo "redis-benchmark did not complete $t" >&2; exit 1; }
done
