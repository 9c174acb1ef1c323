# Sourced by the CI scripts that need a local cluster: `start_cluster PORT`
# starts a 3-node `synod cluster` on RESP ports PORT..PORT+2 in a scratch
# directory, waits until it takes a write, and removes it all on exit.
bin=target/release/synod
[ -x "$bin" ] || cargo build --release -q -p synod
start_cluster() {
  local port=$1
  data=$(mktemp -d)
  "$bin" cluster --nodes 3 --data-dir "$data" --resp-port "$port" >"$data/log" 2>&1 &
  cluster_pid=$!
  trap 'kill -9 $cluster_pid 2>/dev/null || true; rm -rf "$data"' EXIT
  for _ in $(seq 1 100); do
    redis-cli -p "$port" SET warmup 1 2>/dev/null | grep -q OK && return 0
    sleep 0.2
  done
  echo "the cluster on port $port took no write" >&2
  return 1
}
