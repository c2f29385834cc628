#!/usr/bin/env bash
# The server benchmark of docs/BENCHMARKS.md: the `small` Llama served twice on
# this machine (prefix cache on, and --no-prefix-cache), loaded in turn by
# `radixlm bench serve` with (1) generated-shared-prefix scaled to fit: 4 groups
# x 24 prompts, a 512-token system prompt and a 56-token question (90% of each
# prompt shared), and (2) all-unique prompts of about the same length.
# SERVE_FLAGS adds serve flags to both servers; RUNS picks "shared", "unique".
# Figures and per-request records go to build/bench_serve/*.json, charts to
# *.svg, and `radixlm bench compare` of each pair to *-compare.{txt,json,svg}.
# (Issue 7's recorded comparison is scripts/bench_compare.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/src/tools/radixlm
model=build/models/llama-small
[ -x "$bin" ] || bash scripts/build.sh build -DRADIXLM_TESTS=OFF -- radixlm
[ -f "$model/config.json" ] || "$bin" make-model --arch llama --preset small --seed 1 --out "$model"
out=build/bench_serve
mkdir -p "$out"
source scripts/serve_lib.sh
start_server port_cache "$out/server-cache.log" small ${SERVE_FLAGS:-}
start_server port_none "$out/server-no-cache.log" small --no-prefix-cache ${SERVE_FLAGS:-}
common=(--model small --concurrency "${CONCURRENCY:-8}" --max-tokens "${MAX_TOKENS:-32}" --seed 1 --warmup 1)
shared=(--workload generated-shared-prefix --groups 4 --num-prompts 96 --system-tokens 512 --question-tokens 56)
unique=(--workload all-unique --num-prompts 64 --system-tokens 568)
for run in ${RUNS:-shared unique}; do
  declare -n args=$run
  # The order alternates between calls (ROUND=2 puts the baseline first), so a
  # drift of the machine is not mistaken for a difference between the servers.
  cache_run() { "$bin" bench serve --base-url "http://127.0.0.1:$port_cache" "${common[@]}" "${args[@]}" \
    --label "$run, prefix cache" --json "$out/$run-cache${ROUND:+-$ROUND}.json" --plot "$out/$run-cache${ROUND:+-$ROUND}.svg"; }
  none_run() { "$bin" bench serve --base-url "http://127.0.0.1:$port_none" "${common[@]}" "${args[@]}" \
    --label "$run, --no-prefix-cache" --json "$out/$run-no-cache${ROUND:+-$ROUND}.json" --plot "$out/$run-no-cache${ROUND:+-$ROUND}.svg"; }
  if [ "${ROUND:-1}" = 2 ]; then none_run; cache_run; else cache_run; none_run; fi
  "$bin" bench compare "$out/$run-no-cache${ROUND:+-$ROUND}.json" "$out/$run-cache${ROUND:+-$ROUND}.json" \
    --json "$out/$run-compare${ROUND:+-$ROUND}.json" --plot "$out/$run-compare${ROUND:+-$ROUND}.svg" |
    tee "$out/$run-compare${ROUND:+-$ROUND}.txt"
done
curl -s "http://127.0.0.1:$port_cache/metrics" > "$out/metrics-cache.txt" || true
