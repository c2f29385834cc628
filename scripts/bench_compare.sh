#!/usr/bin/env bash
# The comparison of issue 7 (docs/BENCHMARKS.md, "bench serve: prefix cache on
# and off"): the `small` Llama served twice on this machine, with the prefix
# cache and with --no-prefix-cache, each loaded in turn by `radixlm bench serve`
# with generated-shared-prefix scaled to fit: 8 groups x 8 prompts, a 512-token
# system prompt, SGLang's 128-token question, 64 output tokens, 8 streams in
# flight, one warm-up request; then `radixlm bench compare` of the two runs
# (the baseline first, so ratios read "with the cache / without").
#
# Writes to $OUT (default build/bench_compare): no-cache.json, cache.json,
# compare.json, no-cache.svg, cache.svg, compare.svg, compare.txt, the servers'
# logs and their /metrics after the runs.
#
# Environment (defaults in brackets): BUILD [build], PRESET [small], SEED [1],
# NUM_GROUPS [8], PROMPTS_PER_GROUP [8], SYSTEM_TOKENS [512], QUESTION_TOKENS [128],
# MAX_TOKENS [64], CONCURRENCY [8], WARMUP [1], ORDER [cache-first or
# baseline-first: which server is loaded first, to tell machine drift from a
# difference], SERVE_FLAGS (added to both servers), OUT.
# A smoke run in seconds: PRESET=tiny NUM_GROUPS=2 PROMPTS_PER_GROUP=2 MAX_TOKENS=4 bash scripts/bench_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
bin=./$build/src/tools/radixlm
preset=${PRESET:-small}
model=$build/models/llama-$preset
out=${OUT:-$build/bench_compare}
[ -x "$bin" ] || bash scripts/build.sh "$build" -DRADIXLM_TESTS=OFF -- radixlm
[ -f "$model/config.json" ] || "$bin" make-model --arch llama --preset "$preset" --seed 1 --out "$model"
mkdir -p "$out"
source scripts/serve_lib.sh
start_server port_cache "$out/server-cache.log" "$preset" ${SERVE_FLAGS:-}
start_server port_none "$out/server-no-cache.log" "$preset" --no-prefix-cache ${SERVE_FLAGS:-}

load=(--model "$preset" --workload generated-shared-prefix --groups "${NUM_GROUPS:-8}"
      --prompts-per-group "${PROMPTS_PER_GROUP:-8}" --system-tokens "${SYSTEM_TOKENS:-512}"
      --question-tokens "${QUESTION_TOKENS:-128}" --max-tokens "${MAX_TOKENS:-64}"
      --concurrency "${CONCURRENCY:-8}" --warmup "${WARMUP:-1}" --seed "${SEED:-1}"
      --flush-cache /v1/cache/flush)
# Exit code 2 (some request failed) still leaves a report to compare; the
# script says so and goes on.
run() {  # run NAME PORT LABEL
  local rc=0
  "$bin" bench serve --base-url "http://127.0.0.1:$2" "${load[@]}" --label "$3" \
    --json "$out/$1.json" --plot "$out/$1.svg" || rc=$?
  if [ "$rc" = 2 ]; then echo "bench_compare.sh: $3: some requests failed (see $out/$1.json)" >&2
  elif [ "$rc" != 0 ]; then exit "$rc"; fi
}
if [ "${ORDER:-cache-first}" = baseline-first ]; then
  run no-cache "$port_none" "--no-prefix-cache"; run cache "$port_cache" "prefix cache"
else
  run cache "$port_cache" "prefix cache"; run no-cache "$port_none" "--no-prefix-cache"
fi
"$bin" bench compare "$out/no-cache.json" "$out/cache.json" --json "$out/compare.json" --plot "$out/compare.svg" |
  tee "$out/compare.txt"
curl -s "http://127.0.0.1:$port_cache/metrics" > "$out/metrics-cache.txt" || true
curl -s "http://127.0.0.1:$port_none/metrics" > "$out/metrics-no-cache.txt" || true
echo "bench_compare.sh: figures and charts in $out"
