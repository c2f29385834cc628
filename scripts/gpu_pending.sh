#!/usr/bin/env bash
# The GPU checks and figures still owed by open issues, in one call of the
# device tool (under 10 minutes), from the bundle scripts/gpu_bundle.sh wrote:
#
#   bash scripts/gpu_pending.sh [BUNDLE_DIR (build-gpu)]
#
# 1. scripts/gpu_check.sh (the CUDA tests, among them prompt logprobs and page
#    moves through host memory; the model CLI; transformers; the e2e suite on
#    --device cuda), within CHECK_BUDGET_S (default 330 s);
# 2. the llama3-8b preset (BF16) made once, then
#    - bench-grammar --device cuda at batch 64 (issue 29: constrained decoding
#      within 5% of unconstrained);
#    - bench/host_cache_ttft.py --device cuda, 8,192-token prompts with the last
#      128 new, host and disk tiers (issue 21: TTFT from the host <= 15% of
#      cold, from the directory <= 35%);
# 3. bench/route_overhead.sh on a tiny model (issue 22: the router's TTFT p99).
# Everything goes to $OUT/summary.txt (the check's lines) and $OUT/pending.txt.
# PENDING_DEVICE=cpu runs the same steps on the CPU with the tiny preset: a dry
# run of the script where there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle_dir=${1:-build-gpu}
out=${OUT:-/tmp/radixlm-pending-out}
device=${PENDING_DEVICE:-cuda}
mkdir -p "$out"
report=$out/pending.txt
: >"$report"
say() { echo "$*" | tee -a "$report"; }
start=$(date +%s)

if [ "$device" = cuda ]; then
  CHECK_BUDGET_S=${CHECK_BUDGET_S:-330} OUT=$out bash scripts/gpu_check.sh "$bundle_dir"
  say "gpu_check.sh exit $? after $(($(date +%s) - start)) s (summary.txt)"
  b=/tmp/radixlm-gpu-check/radixlm-gpu
  preset=llama3-8b
else
  b=/tmp/radixlm-pending/radixlm-gpu
  rm -rf /tmp/radixlm-pending && mkdir -p /tmp/radixlm-pending
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
    "$bundle_dir/radixlm-gpu.tar.xz" /tmp/radixlm-pending
  preset=tiny
fi
radixlm=$b/bin/radixlm
[ -x "$radixlm" ] || { say "no radixlm at $radixlm"; exit 1; }
work=/tmp/radixlm-pending-work
rm -rf "$work" && mkdir -p "$work"

t0=$(date +%s)
"$radixlm" make-model --preset "$preset" --seed 1 --dtype bf16 --out "$work/$preset" >"$work/make_model.txt" 2>&1 ||
  { say "make-model failed: $(tail -2 "$work/make_model.txt")"; exit 1; }
say "model $preset made in $(($(date +%s) - t0)) s"

say "=== bench-grammar ($device, batch 64)"
timeout 150 "$radixlm" bench-grammar --model "$work/$preset" --device "$device" --batch 64 --max-tokens 200 \
  --rounds 3 --json "$out/grammar.json" 2>&1 | grep -v $'\r' | tail -20 | tee -a "$report"

say "=== host and disk tiers: TTFT ($device)"
tokens=8192
[ "$device" = cuda ] || tokens=1024
timeout 200 python3 bench/host_cache_ttft.py "$radixlm" "$work/$preset" --device "$device" --prompt-tokens $tokens \
  --tail 128 --rounds 2 --host-cache 8GiB --disk-cache "$work/disk" --vocab 256 --json "$out/host_cache_ttft.json" \
  2>&1 | tail -8 | tee -a "$report"

say "=== router overhead (tiny model, CPU replica)"
"$radixlm" make-model --arch llama --preset tiny --seed 3 --out "$work/tiny" >/dev/null 2>&1
MODEL_NAME=tiny timeout 150 bash bench/route_overhead.sh "$radixlm" "$work/tiny" 2>&1 |
  grep -E "^round|time to first" | tee -a "$report"
say "done in $(($(date +%s) - start)) s"
