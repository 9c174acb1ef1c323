#!/usr/bin/env bash
# A short redis-py session against a local synod cluster (issue 27): the
# calls a Python user makes first, its default transactional pipeline,
# and WATCH under contention.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/cluster.sh
port=17201
start_cluster $port
# The system Python, where apt installs python3-redis.
/usr/bin/python3 tests/python/redis_py_check.py $port $((port + 1)) $((port + 2))
