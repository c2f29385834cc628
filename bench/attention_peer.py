#!/usr/bin/env python3
"""radixlm's paged prefill attention against PyTorch's scaled_dot_product_attention
(its cuDNN and FlashAttention backends) on the same shapes, in the same run, on
the GPU machine (its python has torch):

    python3 bench/attention_peer.py RADIXLM [--tokens 2048,8192,32768] [--json OUT]

Shapes: Llama 3 8B's attention (32 query heads, 8 KV heads, head dim 128), one
causal prompt of each length, BF16. radixlm's figure comes from
`RADIXLM bench-engine --device cuda --parts attention --attention-prefill ...
--json` (its paged kernel through the page tables, L2 flushed before each
sample, median). torch's is timed the same way here: CUDA events around one
call, a 2x-L2 write before each sample, the median of the samples after warm-up.
FLOPs are counted alike: 4 x heads x head_dim per (query, key) pair of the causal
triangle. A backend that refuses the shape (or is missing) is reported as such.
Prints a table of TFLOP/s and radixlm's ratio to each backend; --json writes
every figure.
"""
import argparse
import json
import subprocess
import sys
import tempfile

HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


def time_torch(torch, fn, flush, warmup=3, samples=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(samples):
        flush.fill_(i & 0xFF)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3)
    times.sort()
    return times[len(times) // 2]


def torch_figures(tokens):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F

    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    flush = torch.empty(max(2 * l2, 64 << 20), dtype=torch.uint8, device="cuda")
    out = {"gpu": props.name, "torch": torch.__version__, "prefill": {}}
    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}
    for n in tokens:
        g = torch.Generator(device="cuda").manual_seed(n)
        q = torch.randn(1, HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=g)
        k = torch.randn(1, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=g)
        v = torch.randn(1, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=g)
        # GQA as the backends take it: enable_gqa where torch has it, else K and V
        # repeated per query head (the FLOPs are the same).
        kr, vr = k.repeat_interleave(HEADS // KV_HEADS, 1), v.repeat_interleave(HEADS // KV_HEADS, 1)
        flops = 4.0 * HEADS * HEAD_DIM * n * (n + 1) / 2
        row = {}
        for name, backend in backends.items():
            def run(backend=backend):
                with sdpa_kernel(backend):
                    try:
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                    except (TypeError, RuntimeError):
                        return F.scaled_dot_product_attention(q, kr, vr, is_causal=True)
            try:
                s = time_torch(torch, run, flush)
                row[name] = {"seconds": s, "tflops": flops / s / 1e12}
            except Exception as e:  # the backend refuses the shape or is not built
                row[name] = {"error": str(e).splitlines()[0][:200]}
        out["prefill"][n] = row
        del q, k, v, kr, vr
        torch.cuda.empty_cache()
    return out


def radixlm_figures(radixlm, tokens):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [radixlm, "bench-engine", "--device", "cuda", "--parts", "attention",
               "--attention-prefill", *[str(n) for n in tokens], "--attention-decode-batch", "1",
               "--attention-decode-contexts", "1024", "--json", f.name]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = json.load(open(f.name))
    out = {}
    for a in data.get("attention", []):
        if a.get("kind") == "prefill" and "tflops" in a:
            out[a["new_tokens"]] = {"seconds": a["seconds"], "tflops": a["tflops"]}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("radixlm")
    p.add_argument("--tokens", default="2048,8192,32768")
    p.add_argument("--json")
    a = p.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")]
    ours = radixlm_figures(a.radixlm, tokens)
    peer = torch_figures(tokens)
    print(f"prefill attention, {HEADS} heads / {KV_HEADS} KV heads / head dim {HEAD_DIM}, causal, BF16,"
          f" {peer['gpu']}, torch {peer['torch']} (TFLOP/s; L2 flushed; median)")
    print(f"{'tokens':>7} {'radixlm':>8} {'cuDNN':>8} {'FA2':>8} {'vs cuDNN':>9} {'vs FA2':>7}")
    for n in tokens:
        r = ours.get(n, {}).get("tflops")
        cells = []
        for name in ("cudnn", "flash"):
            cells.append(peer["prefill"][n][name].get("tflops"))
        def fmt(x):
            return f"{x:8.1f}" if x else f"{'-':>8}"
        ratios = [f"{r / c:.2f}x" if r and c else "-" for c in cells]
        print(f"{n:>7} {fmt(r)} {fmt(cells[0])} {fmt(cells[1])} {ratios[0]:>9} {ratios[1]:>7}")
        for name in ("cudnn", "flash"):
            if "error" in peer["prefill"][n][name]:
                print(f"        {name}: {peer['prefill'][n][name]['error']}")
    if a.json:
        json.dump({"radixlm": ours, "torch": peer}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
