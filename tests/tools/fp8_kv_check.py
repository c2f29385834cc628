#!/usr/bin/python3
"""`serve --kv-dtype fp8` end to end (backend/kv_dtype.h):

  pool      the same --kv-memory holds 4x the F32 pool's tokens (2x BF16's
            with --device cuda); the start-up line and /v1/cache/stats say
            fp8_e4m3, the pool's tokens and a quarter (a half) of the F32
            (BF16) page's bytes
  cache     greedy completions repeat token for token; the second identical
            prompt is served from the prefix cache (cached_tokens > 0) with the
            first one's ids
  tiers     the disk tier's fingerprint holds the KV format: an FP8 server over
            an F32 server's directory reads none of its blocks (and the other
            way round), and each reads its own back after a restart with the
            ids of its cold run
  flags     a bad --kv-dtype is refused naming the flag

Usage: fp8_kv_check.py RADIXLM MODEL_DIR [cpu|cuda]   (the device; cpu by default:
the GPU machine runs it with cuda, scripts/gpu_pending.sh)
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

from serve_harness import Failure, Server, call, check


DEVICE = "cpu"


def pool_tokens(server):
    for line in server.lines:
        m = re.search(r"KV pool (\d+) pages x 16 tokens = (\d+) tokens \(.* of (\S+) K/V on " + DEVICE, line)
        if m:
            return int(m.group(2)), m.group(3)
    raise Failure("no KV pool line:\n" + "".join(server.lines))


def main():
    global DEVICE
    radixlm, model = sys.argv[1], sys.argv[2]
    DEVICE = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    # The device's own format and how many of its bytes an FP8 element takes.
    own, ratio = ("f32", 4) if DEVICE == "cpu" else ("bf16", 2)
    device = ["--device", DEVICE]

    def server(extra, **kw):
        return Server(radixlm, model, device + extra, **kw)

    rng = random.Random(26)
    work = tempfile.mkdtemp(prefix="radixlm-fp8kv-")
    try:
        # --- pool: 4x (2x) the tokens in the same memory ---
        f32 = server([], pool=("--kv-memory", "2MiB"))
        f32_tokens, f32_format = pool_tokens(f32)
        f32_stats = call(f32.port, "/v1/cache/stats")
        f32.stop()
        fp8 = server(["--kv-dtype", "fp8"], pool=("--kv-memory", "2MiB"))
        fp8_tokens, fp8_format = pool_tokens(fp8)
        check((f32_format, fp8_format) == (own, "fp8_e4m3"), f"formats {f32_format}, {fp8_format}")
        check(fp8_tokens == ratio * f32_tokens, f"FP8 pool {fp8_tokens} tokens, {own} {f32_tokens}")
        check(any("scales none (1.0)" in l for l in fp8.lines), "".join(fp8.lines))
        stats = call(fp8.port, "/v1/cache/stats")
        check(stats["kv"]["format"] == "fp8_e4m3" and stats["kv"]["pool_tokens"] == fp8_tokens, f"{stats['kv']}")
        check(stats["kv"]["page_bytes"] * ratio == f32_stats["kv"]["page_bytes"],
              f"page bytes {stats['kv']} vs {f32_stats['kv']}")

        # --- cache: greedy repeats, the second identical prompt from the cache ---
        prompt = [rng.randrange(300) for _ in range(100)]
        usage1, ids1 = fp8.complete(prompt)
        usage2, ids2 = fp8.complete(prompt)
        check(ids1 == ids2 and len(ids1) == 6, f"greedy ids differ: {ids1} {ids2}")
        check(usage1["prompt_tokens_details"]["cached_tokens"] == 0, f"cold: {usage1}")
        check(usage2["prompt_tokens_details"]["cached_tokens"] > 0, f"no prefix hit: {usage2}")
        # A prompt sharing 70 tokens: a cached prefix ending mid-page (copied).
        forked = prompt[:70] + [rng.randrange(300) for _ in range(30)]
        usage3, ids3 = fp8.complete(forked)
        check(usage3["prompt_tokens_details"]["cached_tokens"] >= 64, f"fork: {usage3}")
        fp8.stop()
        fresh = server(["--kv-dtype", "fp8"])
        _, cold3 = fresh.complete(forked)
        fresh.stop()
        check(ids3 == cold3, f"a cached prefix changed the ids: {ids3} != {cold3}")

        # --- tiers: the fingerprint keeps F32 and FP8 blocks apart ---
        disk = os.path.join(work, "disk")
        long_prompt = [rng.randrange(300) for _ in range(400)]
        tier = ["--host-cache", "8MiB", "--disk-cache", disk]
        a = server(tier)
        _, f32_cold = a.complete(long_prompt)
        a.stop()
        b = server(tier + ["--kv-dtype", "fp8"])
        check(any("0 blocks of this model's KV found" in l for l in b.lines), "".join(b.lines))
        usage, fp8_cold = b.complete(long_prompt)
        check(usage["prompt_tokens_details"]["cached_tokens"] == 0, f"FP8 read F32 blocks: {usage}")
        b.stop()
        c = server(tier + ["--kv-dtype", "fp8"])
        check(any("25 blocks of this model's KV found" in l for l in c.lines), "".join(c.lines))
        usage, ids = c.complete(long_prompt)
        check(usage["cached_tokens_by_tier"]["disk"] == 384, f"FP8 restart: {usage}")
        check(ids == fp8_cold, f"FP8 from disk: {ids} != {fp8_cold}")
        c.stop()
        d = server(tier)
        check(any("25 blocks of this model's KV found" in l for l in d.lines), "".join(d.lines))
        usage, ids = d.complete(long_prompt)
        check(usage["cached_tokens_by_tier"]["disk"] == 384, f"F32 restart: {usage}")
        check(ids == f32_cold, f"F32 from disk: {ids} != {f32_cold}")
        d.stop()

        # --- flags ---
        for cmd in (["serve", "--model", model, "--port", "0"], ["generate", "--model", model, "--prompt", "x"]):
            r = subprocess.run([radixlm, *cmd, *device, "--kv-dtype", "int8"], capture_output=True, text=True,
                               timeout=60)
            check(r.returncode != 0 and "--kv-dtype" in r.stdout + r.stderr, f"{cmd}: {r.stdout + r.stderr}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"FP8 KV on {DEVICE}: {fp8_tokens} tokens where {own} holds {f32_tokens}; greedy repeats and prefix "
          f"hits give the same ids; {own} and FP8 disk blocks kept apart, each read back after a restart")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
