#!/usr/bin/env python3
"""Issue 26's FP8 KV figures from two `radixlm bench-engine --device cuda --json`
runs of one model and memory fraction, the first with the BF16 KV pool
(--kv-dtype auto), the second with --kv-dtype fp8 (scripts/gpu_pending.sh makes
them): the pools' pages (target 2x), decode tokens/s per batch at the same
context (target at batch 64: FP8 >= 1.5x BF16; a run whose pool could not give
each sequence its own pages shared one cached prefix, which is said, since it
is not like for like), and TTFT with a cached prefix (target: FP8 no worse).

Usage: fp8_kv_compare.py BF16.json FP8.json
"""
import json
import sys


def main():
    bf16, fp8 = (json.load(open(p)) for p in sys.argv[1:3])
    print(f"{fp8.get('gpu')}: {fp8.get('model')}, KV formats {bf16.get('kv_format')} and {fp8.get('kv_format')}")
    pages = fp8["kv_pages"] / bf16["kv_pages"] if bf16.get("kv_pages") else float("nan")
    print(f"pool: BF16 {bf16.get('kv_pages')} pages, FP8 {fp8.get('kv_pages')} ({pages:.3f}x; target 2x)")
    a = {(x["context"], x["batch"]): x for x in bf16.get("decode", [])}
    b = {(x["context"], x["batch"]): x for x in fp8.get("decode", [])}
    for key in sorted(a):
        x, y = a[key], b.get(key, {})
        if "tokens_per_s" not in x or "tokens_per_s" not in y:
            why = [v.get("skipped") or v.get("error") or "missing" for v in (x, y)]
            print(f"decode context {key[0]} batch {key[1]}: not measured (BF16: {why[0]}; FP8: {why[1]})")
            continue
        shared = [n for n, v in (("BF16", x), ("FP8", y)) if v.get("kv_pages") == "shared_prefix"]
        note = f"; {' and '.join(shared)} over one shared cached prefix: not like for like" if shared else ""
        target = " (target >= 1.5x)" if key[1] == 64 else ""
        print(f"decode context {key[0]} batch {key[1]}: BF16 {x['tokens_per_s']:.0f} tokens/s "
              f"({x['gbs']:.0f} GB/s), FP8 {y['tokens_per_s']:.0f} tokens/s ({y['gbs']:.0f} GB/s): "
              f"{y['tokens_per_s'] / x['tokens_per_s']:.2f}x{target}{note}")
    t1, t2 = bf16.get("ttft") or {}, fp8.get("ttft") or {}
    if "cached_s" in t1 and "cached_s" in t2:
        print(f"TTFT {t1['prompt_tokens']} tokens, {t1['cached_tokens']} cached: BF16 {1e3 * t1['cached_s']:.1f} ms "
              f"(cold {1e3 * t1['cold_s']:.0f}), FP8 {1e3 * t2['cached_s']:.1f} ms (cold {1e3 * t2['cold_s']:.0f}): "
              f"{t2['cached_s'] / t1['cached_s']:.2f}x (target <= 1)")
    else:
        print(f"TTFT: not measured ({t1.get('skipped') or t1.get('error')}; {t2.get('skipped') or t2.get('error')})")
    return 0 if bf16.get("ok") and fp8.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
