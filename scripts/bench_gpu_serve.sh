#!/usr/bin/env bash
# Issue 19's serving benchmark, on the GPU machine, from the bundle that
# scripts/gpu_bundle.sh wrote here (nothing is built there):
#
#   bash scripts/bench_gpu_serve.sh [BUNDLE_DIR (build-gpu)]
#
# 1. makes the BENCH_PRESET model (llama3-8b, BF16, random weights);
# 2. bench-engine's decode step at batch 1, 16, 64, 256 and context 1,024: the
#    reference the served inter-token latency is held to;
# 3. `serve --device cuda` with its default step limits (printed at start-up)
#    and, per batch B: B streams of ~768-token prompts and 512 tokens out, run
#    twice with the same prompts (the first fills the prefix cache, so the second
#    is decode only), the second's inter-token latency against bench-engine's
#    step, with the engine's step breakdown (its phases and the device's own time
#    from /metrics, before and after);
# 4. stall-free batching: 64 such streams while prompts of ~5,400 tokens keep
#    arriving (2 a second), their p99 inter-token latency against 3x the step,
#    and the engine's steps meanwhile by kind (decode, mixed, prefill: count and
#    wall and device time quantiles, from /metrics' step histograms);
# 5. generated-shared-prefix at SGLang's defaults (1,024 requests: 64 groups x 16,
#    2,048-token system prompts, 128-token questions, 256 out) at concurrency 256,
#    then 1,024 streams opened at once (`bench http`, the HTTP issue's GPU
#    target), then generated-shared-prefix against a server with --no-prefix-cache.
# Prints the table last; $OUT gets summary.txt, serve_bench.json (every figure)
# and logs.tar.gz (server logs, bench serve JSON, metrics). SERVE_BUDGET_S
# (default 570) bounds the whole run; BATCHES overrides "1 16 64 256";
# GSP_NO_CACHE=0 leaves out the --no-prefix-cache run (for a call that has
# measured it already and needs its two minutes for something else).
set -uo pipefail
cd "$(dirname "$0")/.."
bundle_dir=${1:-build-gpu}
out=${OUT:-/tmp/radixlm-serve-out}
preset=${BENCH_PRESET:-llama3-8b}
batches=${BATCHES:-1 16 64 256}
device=${BENCH_DEVICE:-cuda}  # cpu: a dry run of the script (with BENCH_PRESET=tiny)
budget=${SERVE_BUDGET_S:-570}
work=/tmp/radixlm-serve-bench
start=$(date +%s)
source "$(dirname "$0")/gpu_bundle_lib.sh"
prepare_run "$out" "$work"
left() { echo $((budget - ($(date +%s) - start))); }

unpack_bundle "$bundle_dir" "$work" >"$work/unpack.txt" || { note "$(cat "$work/unpack.txt")"; exit 1; }
bin=$b/bin/radixlm
note "bundle: $(head -1 "$b/MANIFEST"); $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"

model=$work/$preset
t0=$(date +%s)
"$bin" make-model --preset "$preset" --seed 1 --dtype bf16 --out "$model" >"$logs/make_model.log" 2>&1 ||
  { note "FAIL: make-model"; cat "$logs/make_model.log"; exit 1; }
note "model $preset made in $(($(date +%s) - t0)) s"

# ---- bench-engine: the decode step the server is held to ---------------------
csv=${batches// /,}
t0=$(date +%s)
if [ "$device" = cuda ]; then
  timeout 200 "$bin" bench-engine --model "$model" --device cuda --parts decode --decode-batch "$csv" \
    --decode-contexts 1024 --decode-tokens 48 --json "$work/engine.json" >"$logs/bench_engine.txt" 2>&1 ||
    note "bench-engine failed (exit $?): $(tail -2 "$logs/bench_engine.txt")"
fi
note "bench-engine decode in $(($(date +%s) - t0)) s"

# ---- servers -----------------------------------------------------------------
pid=""
stop_server() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=""
}
trap stop_server EXIT
port=""
start_server() {  # LOG [flags...]
  local log=$1
  shift
  "$bin" serve --model "$model" --host 127.0.0.1 --port 0 --served-model-name m --device "$device" "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1800); do
    if grep -q "listening on" "$log"; then
      port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -n1)
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { note "FAIL: the server did not start: $(tail -3 "$log")"; return 1; }
    sleep 0.1
  done
  note "FAIL: the server did not start in 3 minutes"
  return 1
}
metrics() { python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=10).read().decode())" >"$1" 2>/dev/null; }
bench() {  # NAME [bench serve flags...]
  local name=$1
  shift
  timeout "$(($(left) > 30 ? $(left) : 30))" "$bin" bench serve --base-url "http://127.0.0.1:$port" --model m \
    --json "$work/$name.json" "$@" >"$logs/$name.txt" 2>&1
}

t0=$(date +%s)
start_server "$logs/serve_cache.log" || exit 1
note "server up in $(($(date +%s) - t0)) s: $(grep -E 'max running|step limits|overlapped' "$logs/serve_cache.log" | tr '\n' ' ')"

for B in $batches; do
  [ "$(left)" -gt 60 ] || { note "SKIP batch $B: budget spent"; continue; }
  decode=(--workload all-unique --num-prompts "$B" --concurrency "$B" --system-tokens 768 --max-tokens 512
          --output-tokens 512 --warmup 0 --seed 1)
  bench "itl${B}_fill" "${decode[@]}"
  metrics "$work/metrics_before_$B.txt"
  bench "itl$B" "${decode[@]}"
  metrics "$work/metrics_after_$B.txt"
done

if [ "$(left)" -gt 120 ]; then
  # 64 decoding streams; long prompts arrive meanwhile (a second client): 2,700
  # to 8,100 tokens (all-unique draws 0.5x to 1.5x the mean), all within the
  # llama3-8b preset's 8,192-token context with their 16 tokens out.
  metrics "$work/metrics_before_stall.txt"
  bench stall_decode --workload all-unique --num-prompts 64 --concurrency 64 --system-tokens 768 --max-tokens 512 \
    --output-tokens 512 --warmup 0 --seed 7 &
  decode_pid=$!
  sleep 2
  bench stall_long --workload all-unique --num-prompts 16 --request-rate 2 --system-tokens 5400 --max-tokens 16 \
    --output-tokens 16 --warmup 0 --seed 8 --max-concurrency 64
  wait "$decode_pid"
  metrics "$work/metrics_after_stall.txt"
else
  note "SKIP stall-free run: budget spent"
fi

if [ "$(left)" -gt 90 ]; then
  bench gsp_cache --workload generated-shared-prefix --concurrency 256 --warmup 0 --seed 1
else
  note "SKIP generated-shared-prefix: budget spent"
fi
metrics "$work/metrics_cache.txt"
# The HTTP front end: 1,024 streams opened at once (64 tokens each).
if [ "$(left)" -gt 60 ]; then
  timeout 120 "$bin" bench http --base-url "http://127.0.0.1:$port" --scenarios streams --streams 1024 \
    --max-tokens 64 --model m --pid "$pid" --json "$work/http_streams.json" >"$logs/http_streams.txt" 2>&1
  note "HTTP front end, 1,024 streams at once: $(grep '^streams' "$logs/http_streams.txt" || tail -2 "$logs/http_streams.txt")"
else
  note "SKIP 1,024 streams: budget spent"
fi
stop_server
if [ "${GSP_NO_CACHE:-1}" = 0 ]; then
  note "SKIP generated-shared-prefix without the prefix cache: GSP_NO_CACHE=0"
elif [ "$(left)" -gt 120 ]; then
  start_server "$logs/serve_no_cache.log" --no-prefix-cache &&
    bench gsp_no_cache --workload generated-shared-prefix --concurrency 256 --warmup 0 --seed 1 --max-duration "$(($(left) - 20))"
  metrics "$work/metrics_no_cache.txt"
  stop_server
else
  note "SKIP generated-shared-prefix without the prefix cache: budget spent"
fi

# ---- the table -----------------------------------------------------------------
python3 - "$work" "$batches" <<'EOF' | tee -a "$summary"
import json, os, re, sys
work, batches = sys.argv[1], [int(b) for b in sys.argv[2].split()]
def load(name):
    p = os.path.join(work, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
def metrics(path):
    out = {}
    if not os.path.exists(path): return out
    for line in open(path):
        m = re.match(r'^(radixlm:[a-z_]+)(\{[^}]*\})? ([-0-9.e+]+)$', line.strip())
        if not m: continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if set(labels) - {"model_name", "phase"}: continue
        out[m.group(1) + ("/" + labels["phase"] if "phase" in labels else "")] = float(m.group(3))
    return out
def step_histograms(path):
    """radixlm:step_{interval,device}_seconds buckets: {(family, kind): {le: cumulative count}}."""
    out = {}
    if not os.path.exists(path): return out
    for line in open(path):
        m = re.match(r'^radixlm:step_(interval|device)_seconds_bucket\{([^}]*)\} ([-0-9.e+]+)$', line.strip())
        if not m: continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        le = float("inf") if labels.get("le") == "+Inf" else float(labels.get("le", "inf"))
        out.setdefault((m.group(1), labels.get("kind")), {})[le] = float(m.group(3))
    return out
p = os.path.join(work, "engine.json")
steps = {}
if os.path.exists(p):
    for d in json.load(open(p)).get("decode", []):
        if "step_s" in d and d.get("context") == 1024: steps[d["batch"]] = d["step_s"]
result = {"engine_step_s": steps, "itl": {}, "stall": None, "gsp": {}}
print()
print("inter-token latency in serve (second pass: prompts cached, decode only) against bench-engine's step")
print(f"{'batch':>6} {'engine step ms':>15} {'ITL mean ms':>12} {'ITL p50 ms':>11} {'p50/step':>9} {'p99 ms':>8}"
      f" {'GPU busy':>9}  step breakdown ms (schedule/launch/wait/process/release/deliver)")
phases = ["schedule", "launch", "wait", "process", "release", "deliver"]
for b in batches:
    r = load(f"itl{b}")
    if r is None: print(f"{b:>6} (not run)"); continue
    m0, m1 = metrics(f"{work}/metrics_before_{b}.txt"), metrics(f"{work}/metrics_after_{b}.txt")
    d = lambda k: m1.get(k, 0) - m0.get(k, 0)
    n = max(d("radixlm:engine_steps_total"), 1)
    busy = sum(d("radixlm:engine_phase_seconds_total/" + ph) for ph in phases)
    device = d("radixlm:device_busy_seconds_total")
    step = steps.get(b)
    itl = r["itl_s"]
    row = {"engine_step_s": step, "itl_mean_s": itl["mean"], "itl_p50_s": itl["p50"], "itl_p99_s": itl["p99"],
           "failed": r["failed"], "steps": n, "gpu_busy": device / busy if busy else None,
           "phase_ms_per_step": {ph: 1e3 * d("radixlm:engine_phase_seconds_total/" + ph) / n for ph in phases},
           "device_ms_per_step": 1e3 * device / n}
    result["itl"][b] = row
    ratio = f"{itl['p50'] / step:.3f}" if step else "-"
    br = "/".join(f"{row['phase_ms_per_step'][ph]:.2f}" for ph in phases)
    busy_pct = 100 * row["gpu_busy"] if row["gpu_busy"] is not None else float("nan")
    print(f"{b:>6} {1e3 * step if step else float('nan'):>15.2f} {1e3 * itl['mean']:>12.2f} {1e3 * itl['p50']:>11.2f}"
          f" {ratio:>9} {1e3 * itl['p99']:>8.2f} {busy_pct:>8.1f}%"
          f"  {br} (device {row['device_ms_per_step']:.2f}), {r['failed']} failed")
s = load("stall_decode"); l = load("stall_long")
if s:
    step = steps.get(64)
    p99 = s["itl_s"]["p99"]
    result["stall"] = {"itl_p99_s": p99, "itl_p50_s": s["itl_s"]["p50"], "engine_step_s": step,
                       "long_prompts": l["completed"] if l else 0, "long_ttft_p50_s": l["ttft_s"]["p50"] if l else None}
    print()
    print(f"stall-free: 64 streams while {l['completed'] if l else 0} prompts of ~5,400 tokens arrived:"
          f" ITL p50 {1e3 * s['itl_s']['p50']:.2f} ms, p99 {1e3 * p99:.2f} ms"
          + (f" = {p99 / step:.2f}x the batch-64 step (target <= 3x)" if step else "")
          + (f"; long prompts' TTFT p50 {1e3 * l['ttft_s']['p50']:.0f} ms" if l else ""))
    # The engine's steps during that run by kind (radixlm:step_*_seconds): how
    # many, and the wall and device time quantiles of each kind.
    h0, h1 = step_histograms(f"{work}/metrics_before_stall.txt"), step_histograms(f"{work}/metrics_after_stall.txt")
    result["stall"]["steps"] = {}
    for fam in ("interval", "device"):
        for kind in ("decode", "mixed", "prefill"):
            b1 = h1.get((fam, kind), {}); b0 = h0.get((fam, kind), {})
            bounds = sorted(b for b in b1 if b != float("inf"))
            cum = [b1[b] - b0.get(b, 0) for b in bounds] + [b1.get(float("inf"), 0) - b0.get(float("inf"), 0)]
            n = cum[-1] if cum else 0
            if n <= 0: continue
            def q(x):
                for b, c in zip(bounds, cum):
                    if c >= x * n: return b
                return float("inf")
            result["stall"]["steps"][f"{fam}/{kind}"] = {"steps": n, "p50_s": q(0.5), "p90_s": q(0.9), "p99_s": q(0.99)}
            print(f"  step {fam:>8} {kind:>7}: {int(n):>6} steps, p50 <= {1e3 * q(0.5):.0f} ms,"
                  f" p90 <= {1e3 * q(0.9):.0f} ms, p99 <= {1e3 * q(0.99):.0f} ms (bucket bounds)")
print()
print("generated-shared-prefix, 1,024 requests at concurrency 256")
print(f"{'server':>16} {'done':>6} {'failed':>7} {'duration s':>11} {'out tok/s':>10} {'cached':>8} {'ideal':>8}"
      f" {'TTFT p50 ms':>12} {'ITL p50 ms':>11}")
for name, label in (("gsp_cache", "prefix cache"), ("gsp_no_cache", "no prefix cache")):
    r = load(name)
    if r is None: print(f"{label:>16} (not run)"); continue
    result["gsp"][name] = {k: r[k] for k in ("completed", "failed", "duration_s", "output_throughput",
                                              "cached_ratio", "ideal_cached_ratio")}
    result["gsp"][name].update(ttft_p50_s=r["ttft_s"]["p50"], itl_p50_s=r["itl_s"]["p50"])
    cr = r["cached_ratio"] if r["cached_ratio"] is not None else float("nan")
    print(f"{label:>16} {r['completed']:>6} {r['failed']:>7} {r['duration_s']:>11.1f} {r['output_throughput']:>10.0f}"
          f" {cr:>8.4f} {r['ideal_cached_ratio']:>8.4f} {1e3 * r['ttft_s']['p50']:>12.0f} {1e3 * r['itl_s']['p50']:>11.2f}")
g = result["gsp"]
if "gsp_cache" in g and "gsp_no_cache" in g and g["gsp_cache"]["duration_s"] > 0:
    print(f"prefix cache: {g['gsp_no_cache']['duration_s'] / g['gsp_cache']['duration_s']:.2f}x shorter,"
          f" {g['gsp_cache']['output_throughput'] / max(g['gsp_no_cache']['output_throughput'], 1e-9):.2f}x"
          " the output tokens/s")
json.dump(result, open(os.path.join(os.environ.get("OUT", "/tmp"), "serve_bench.json"), "w"), indent=1)
EOF
cp "$work"/*.json "$logs/" 2>/dev/null
cp "$work"/metrics_*.txt "$logs/" 2>/dev/null
tar -C "$work" -czf "$out/logs.tar.gz" logs
note "total $(($(date +%s) - start)) s"
