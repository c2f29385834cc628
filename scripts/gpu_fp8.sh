#!/usr/bin/env bash
# FP8 on the GPU (issue 26), in one call of the device tool (under 10 minutes),
# from the bundle scripts/gpu_bundle.sh wrote:
#
#   bash scripts/gpu_fp8.sh [BUNDLE_DIR (build-gpu)]
#
# 1. the FP8 GPU tests: cuda_gemv_test (GemvFp8 and Fp8Gemm against float64 and
#    the host's quantization) and cuda_backend_test's FP8 cases (FP8 weights
#    against the CPU backend and against the same weights dequantized);
# 2. the llama3-8b preset (BF16) made once, then bench-engine --device cuda with
#    its BF16 weights and with --quantize fp8 (per-channel E4M3, what an FP8
#    checkpoint of these weights holds), same parts: decode at batch 1 and 64
#    (1k context) and a 2,048-token prefill. The issue's targets: batch-1 decode
#    >= 400 tokens/s and >= 85% of the copy roofline for the bytes read; batch
#    64 >= 1.6x BF16; prefill 2k >= 1.6x BF16.
# Everything goes to $OUT/fp8.txt and the JSON files beside it. FP8_DEVICE=cpu
# runs the steps it can on the CPU with the tiny preset (a dry run).
set -uo pipefail
cd "$(dirname "$0")/.."
bundle_dir=${1:-build-gpu}
out=${OUT:-/tmp/radixlm-fp8-out}
device=${FP8_DEVICE:-cuda}
mkdir -p "$out"
report=$out/fp8.txt
: >"$report"
say() { echo "$*" | tee -a "$report"; }
start=$(date +%s)

# The bundle unpacked as every GPU script does it (gpu_bundle_lib.sh: sets b,
# and where this machine keeps CUDA's libraries for the bundle's wrappers).
source scripts/gpu_bundle_lib.sh
root=/tmp/radixlm-fp8
rm -rf "$root" && mkdir -p "$root"
unpack_bundle "$bundle_dir" "$root" || exit 1
libpath=$b/lib:$cuda_libs
radixlm=$b/bin/radixlm
[ -x "$radixlm" ] || { say "no radixlm at $radixlm"; exit 1; }
work=/tmp/radixlm-fp8-work
rm -rf "$work" && mkdir -p "$work"

say "=== FP8 tests ($device)"
for t in cuda_gemv_test cuda_backend_test; do
  LD_LIBRARY_PATH=$libpath timeout 180 "$b/tests/$t" --gtest_filter='*Fp8*' --gtest_brief=1 2>&1 |
    tail -25 | tee -a "$report"
  say "$t exit ${PIPESTATUS[0]}"
done

preset=llama3-8b
[ "$device" = cuda ] || preset=tiny
t0=$(date +%s)
"$radixlm" make-model --preset "$preset" --seed 1 --dtype bf16 --out "$work/$preset" >"$work/make_model.txt" 2>&1 ||
  { say "make-model failed: $(tail -2 "$work/make_model.txt")"; exit 1; }
say "model $preset made in $(($(date +%s) - t0)) s"

if [ "$device" = cuda ]; then
  for weights in bf16 fp8; do
    say "=== bench-engine --device cuda, $weights weights"
    quantize=none
    [ "$weights" = fp8 ] && quantize=fp8
    LD_LIBRARY_PATH=$libpath timeout 200 "$radixlm" bench-engine --model "$work/$preset" --device cuda \
      --quantize "$quantize" --parts decode,prefill --decode-batch 1,64 --decode-contexts 1024 \
      --prefill-tokens 2048 --decode-tokens 32 --json "$out/bench_engine_$weights.json" 2>&1 |
      grep -v $'\r' | tail -30 | tee -a "$report"
  done
else
  for quantize in none fp8; do
    say "=== bench-engine (cpu), --quantize $quantize"
    "$radixlm" bench-engine --model "$work/$preset" --quantize "$quantize" --prompt-tokens 256 \
      --decode-tokens 16 2>&1 | grep -v $'\r' | tail -8 | tee -a "$report"
  done
fi
say "done in $(($(date +%s) - start)) s"
