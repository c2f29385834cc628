#!/usr/bin/env bash
# What `radixlm route` adds to TTFT: one replica with KV events, the router in
# front, the same bench serve workload sent directly and through the router,
# twice (the first direct run warms the cache; compare the warm runs).
# Usage: bench/route_overhead.sh RADIXLM MODEL_DIR [bench serve workload args...]
set -euo pipefail
radixlm=$1 model=$2
shift 2
base=${BASE_PORT:-18300}
"$radixlm" serve --model "$model" --port $base --threads 1 --kv-events-endpoint tcp://127.0.0.1:$((base + 1)) \
  > /tmp/route_overhead_replica.log 2>&1 &
p1=$!
"$radixlm" route --model "$model" --port $((base + 99)) --replica http://127.0.0.1:$base \
  --replica-events tcp://127.0.0.1:$((base + 1)) > /tmp/route_overhead_router.log 2>&1 &
p2=$!
trap 'kill $p1 $p2 2>/dev/null || true' EXIT
for port in $base $((base + 99)); do
  for _ in $(seq 300); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.2; done
done
workload=("$@")
[ ${#workload[@]} -gt 0 ] || workload=(--model "${MODEL_NAME:-tiny-llama}" --workload generated-shared-prefix --groups 8
  --prompts-per-group 16 --system-tokens 1024 --question-tokens 32 --output-tokens 16 --vocab 320
  --request-rate 4 --seed 2)
for round in 1 2; do
  for target in direct router; do
    port=$base
    [ $target = router ] && port=$((base + 99))
    echo "round $round, $target:"
    "$radixlm" bench serve --base-url http://127.0.0.1:$port "${workload[@]}" | grep -E "time to first|cached prompt|latency"
  done
done
