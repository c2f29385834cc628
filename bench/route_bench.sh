#!/usr/bin/env bash
# The router against round robin on one host (issue 22's target): 4 replicas of
# a model on 127.0.0.1 with KV events, `radixlm route` in front, and
# `radixlm bench serve` sending a generated-shared-prefix workload (GROUPS tenants,
# each with its own SYSTEM-token system prompt) with Poisson arrivals.
# Usage: bench/route_bench.sh RADIXLM MODEL_DIR OUT_DIR POLICY [bench serve args...]
# Prints bench serve's report and the router's per-replica counters; writes
# OUT_DIR/POLICY.json.
set -euo pipefail
radixlm=$1 model=$2 out=$3 policy=$4
shift 4
mkdir -p "$out"
replicas=${REPLICAS:-4}
kv_pages=${KV_PAGES:-800}
base=${BASE_PORT:-18100}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
args=()
for i in $(seq 0 $((replicas - 1))); do
  port=$((base + 10 * i)) ev=$((base + 10 * i + 1)) rp=$((base + 10 * i + 2))
  "$radixlm" serve --model "$model" --port $port --threads 1 --kv-pages "$kv_pages" \
    --kv-events-endpoint tcp://127.0.0.1:$ev --kv-events-replay-endpoint tcp://127.0.0.1:$rp \
    > "$out/replica$i.log" 2>&1 &
  pids+=($!)
  echo $! > "$out/replica$i.pid"  # for a fail-over run to kill one
  args+=(--replica http://127.0.0.1:$port --replica-events tcp://127.0.0.1:$ev --replica-replay tcp://127.0.0.1:$rp)
done
rport=$((base + 99))
"$radixlm" route --model "$model" --port $rport --policy "$policy" "${args[@]}" > "$out/router-$policy.log" 2>&1 &
pids+=($!)
wait_up() {
  for _ in $(seq 300); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.2; done
  echo "route_bench: $1 did not come up (logs in $out)" >&2; exit 1
}
for i in $(seq 0 $((replicas - 1))); do wait_up http://127.0.0.1:$((base + 10 * i)); done
wait_up http://127.0.0.1:$rport
"$radixlm" bench serve --base-url http://127.0.0.1:$rport --json "$out/$policy.json" "$@"
curl -s http://127.0.0.1:$rport/metrics | grep -E "requests_total|cached_tokens_total|decision_seconds"
