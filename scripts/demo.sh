#!/usr/bin/env bash
# One command on a fresh machine: install, build, make a small Llama (random
# weights, real shapes), serve it twice on 127.0.0.1 (prefix cache on, and
# --no-prefix-cache), and replay a weather chatbot, document Q&A and a
# multi-turn chat through the OpenAI API of both: per request, time to first
# token with and without the cache, the cached tokens, the speedup, and whether
# the answers agree. Writes build/demo/ttft.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DRADIXLM_TESTS=OFF -- radixlm
bin=./build/src/tools/radixlm
model=build/models/llama-small
if [ ! -f "$model/config.json" ]; then
  "$bin" make-model --arch llama --preset small --seed 1 --out "$model"
fi
mkdir -p build/demo

source scripts/serve_lib.sh
start_server port_cache build/demo/server-cache.log llama-small
start_server port_none build/demo/server-no-cache.log llama-small --no-prefix-cache
echo "serving $model on :$port_cache (prefix cache) and :$port_none (--no-prefix-cache)"
echo
"$bin" demo-server --base-url "http://127.0.0.1:$port_cache" --baseline-url "http://127.0.0.1:$port_none" \
  --model llama-small --plot build/demo/ttft.svg "$@"
