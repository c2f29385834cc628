#!/usr/bin/env bash
# One command on a fresh machine: install, build and run every test.
#   0. The C++ sources formatted as .clang-format says (scripts/check_format.sh).
#   1. Release build (warnings are errors), all tests (ctest): unit, property
#      (1M operations), CLI.
#   2. ASan+UBSan build (warnings are errors), every test but the CLI ones again.
#   3. libFuzzer targets (cache operations, safetensors headers, chat templates),
#      for a bounded time.
# FUZZ_SECONDS (default 60) bounds step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== format"
bash scripts/check_format.sh

echo "== release build and tests"
bash scripts/build.sh build -DRADIXLM_TESTS=ON -DRADIXLM_WERROR=ON
ctest --test-dir build --output-on-failure --timeout 900 | tee -a "$log"

echo "== ASan+UBSan build, every test but the CLI ones"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRADIXLM_SANITIZE=address \
  -DRADIXLM_CUDA=OFF -DRADIXLM_TESTS=ON -DRADIXLM_WERROR=ON
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 1800 -E '^cli_' | tee -a "$log"

echo "== libFuzzer: cache operations, safetensors headers, chat templates, response-cache entries"
CC=clang CXX=clang++ bash scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRADIXLM_FUZZ=ON -DRADIXLM_TESTS=OFF -DRADIXLM_CUDA=OFF -- cache_fuzz safetensors_fuzz template_fuzz \
  response_entry_fuzz
seconds="${FUZZ_SECONDS:-60}"
mkdir -p build-fuzz/corpus build-fuzz/corpus-safetensors build-fuzz/corpus-template build-fuzz/corpus-response
# One total: 1/2 cache operations, 1/6 each safetensors and response entries,
# the rest templates.
cache_seconds=$((seconds / 2)) safetensors_seconds=$((seconds / 6)) response_seconds=$((seconds / 6))
./build-fuzz/fuzz/cache_fuzz -max_total_time="$cache_seconds" -max_len=4096 \
  -print_final_stats=1 build-fuzz/corpus 2>&1 | tail -n 5
./build-fuzz/fuzz/safetensors_fuzz -max_total_time="$safetensors_seconds" -max_len=4096 \
  -print_final_stats=1 build-fuzz/corpus-safetensors fuzz/corpus/safetensors 2>&1 | tail -n 5
./build-fuzz/fuzz/response_entry_fuzz -max_total_time="$response_seconds" -max_len=4096 \
  -print_final_stats=1 build-fuzz/corpus-response 2>&1 | tail -n 5
./build-fuzz/fuzz/template_fuzz -max_total_time="$((seconds - cache_seconds - safetensors_seconds - response_seconds))" \
  -max_len=4096 -print_final_stats=1 build-fuzz/corpus-template fuzz/corpus/template 2>&1 | tail -n 5
echo "fuzz: no crash in ${seconds} s"

# ctest runs above stop the script on any failure (set -o pipefail), so reaching
# here means every test passed; the four fuzz runs count as four more.
passed=$(grep -o 'tests failed out of [0-9]*' "$log" | awk '{s += $5} END {print s + 4}')
echo "summary: ${passed} passed, 0 failed"
