#!/usr/bin/env bash
# The response-cache benchmark of docs/BENCHMARKS.md: a redis-server on a free
# port of 127.0.0.1 and two replicas of the `small` model sharing it, measured by
# `radixlm bench response-cache` (misses, Redis hits, in-process hits, semantic
# hits on the first replica, which runs --semantic-cache, hit throughput). ARGS overrides the bench flags; figures go to
# build/bench_response_cache/rc.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/src/tools/radixlm
model=${MODEL_DIR:-build/models/llama-small}
[ -x "$bin" ] || bash scripts/build.sh build -DRADIXLM_TESTS=OFF -- radixlm
[ -f "$model/config.json" ] || "$bin" make-model --arch llama --preset small --seed 1 --out "$model"
command -v redis-server >/dev/null || { echo "redis-server not found (scripts/setup.sh installs it)" >&2; exit 1; }
out=build/bench_response_cache
mkdir -p "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$out/redis.log" 2>&1 &
redis_pid=$!
source scripts/serve_lib.sh
trap 'stop_servers; kill "$redis_pid" 2>/dev/null || true' EXIT
embed_flags=()
if [ "${EMBEDDER:-model}" = tiny ]; then
  tiny=build/models/llama-tiny
  [ -f "$tiny/config.json" ] || "$bin" make-model --arch llama --preset tiny --seed 1 --out "$tiny"
  model=$tiny start_server port_e "$out/embedder.log" tiny
  embed_flags=(--semantic-embeddings "http://127.0.0.1:$port_e" --semantic-embeddings-model tiny)
fi
start_server port_a "$out/replica-a.log" small --redis-url "redis://127.0.0.1:$port" \
  --semantic-cache --semantic-threshold 0.95 "${embed_flags[@]}"
start_server port_b "$out/replica-b.log" small --redis-url "redis://127.0.0.1:$port"
# shellcheck disable=SC2086
"$bin" bench response-cache --base-url "http://127.0.0.1:$port_a" --replica-url "http://127.0.0.1:$port_b" \
  --model small --semantic ${ARGS:---prompts 20 --repeats 20 --max-tokens 64 --seconds 5 --concurrency 4} --json "$out/rc.json"
