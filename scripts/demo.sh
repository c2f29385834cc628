#!/usr/bin/env bash
# One command on a fresh machine: install, build, run the demo: the prefix cache
# under a multi-tenant chat workload, then a generated ~100M-parameter Llama run
# twice on the CPU, the second time with its prompt from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DRADIXLM_TESTS=OFF -- radixlm
./build/src/tools/radixlm demo "$@"
echo
model=build/models/llama-small
if [ ! -f "$model/config.json" ]; then
  ./build/src/tools/radixlm make-model --arch llama --preset small --seed 1 --out "$model"
fi
./build/src/tools/radixlm generate --model "$model" --max-tokens 32 --ignore-eos --repeat \
  --prompt "You are a helpful assistant. Answer briefly and cite the documentation you used. Question: how does a radix tree let two requests share their system prompt's KV cache?"
