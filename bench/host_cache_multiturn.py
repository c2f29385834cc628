#!/usr/bin/env python3
"""Multi-turn chat whose KV outgrows the device pool, served with and without
the host tier (`serve --host-cache`), in one run (issue 21's third target):

    python3 bench/host_cache_multiturn.py RADIXLM MODEL_DIR [--device cpu|cuda]
        [--kv-pages 512] [--host-cache 8GiB] [--groups 16] [--turns 4]
        [--system-tokens 1024] [--question-tokens 256] [--output-tokens 128]
        [--concurrency 8] [--json OUT]

Two servers, one after the other, with the same KV pool (--kv-pages), the
second with --host-cache below it; each is loaded by the same
`radixlm bench serve --workload multi-turn` run (the same seed, so the same
conversations: each turn resends the whole transcript, the answers the server
gave included). The workload's KV (the longest transcript of every
conversation) is printed against the pool's tokens: pick the sizes so it is
several times the pool. Prints the cached share against the ideal, TTFT mean,
p50 and p99, and the duration of each, then the mean TTFT ratio (the issue's
target: >= 3x on the GPU). The servers' logs go to /tmp/host_cache_multiturn_*.log.
"""
import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_load(a, host_cache, label):
    port = free_port()
    log_path = f"/tmp/host_cache_multiturn_{label}.log"
    cmd = [a.radixlm, "serve", "--model", a.model, "--device", a.device, "--port", str(port),
           "--served-model-name", "m", "--page-size", str(a.page_size), "--kv-pages", str(a.kv_pages)]
    if host_cache:
        cmd += ["--host-cache", host_cache]
    with open(log_path, "w") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(2400):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except Exception:
                    if server.poll() is not None:
                        sys.exit(f"the server exited: see {log_path}")
                    time.sleep(0.25)
            out = f"/tmp/host_cache_multiturn_{label}.json"
            bench = [a.radixlm, "bench", "serve", "--base-url", f"http://127.0.0.1:{port}", "--model", "m",
                     "--workload", "multi-turn", "--groups", str(a.groups), "--turns", str(a.turns),
                     "--system-tokens", str(a.system_tokens), "--question-tokens", str(a.question_tokens),
                     "--output-tokens", str(a.output_tokens), "--max-tokens", str(a.output_tokens),
                     "--concurrency", str(a.concurrency), "--vocab", str(a.vocab), "--seed", str(a.seed),
                     "--label", label, "--json", out]
            r = subprocess.run(bench, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                sys.exit(f"bench serve failed ({label}): {r.stderr.strip()[-400:]}")
            return json.load(open(out))
        finally:
            server.terminate()
            server.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("radixlm")
    p.add_argument("model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--page-size", type=int, default=16)
    p.add_argument("--kv-pages", type=int, default=512)
    p.add_argument("--host-cache", default="8GiB")
    p.add_argument("--groups", type=int, default=16)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--system-tokens", type=int, default=1024)
    p.add_argument("--question-tokens", type=int, default=256)
    p.add_argument("--output-tokens", type=int, default=128)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args()
    for name in ("kv_pages", "groups", "turns", "system_tokens", "question_tokens", "output_tokens",
                 "concurrency", "page_size", "vocab"):
        if getattr(a, name) < 1:
            sys.exit(f"--{name.replace('_', '-')} must be at least 1")
    pool = a.kv_pages * a.page_size
    per_conv = a.system_tokens + a.turns * (a.question_tokens + a.output_tokens)
    print(f"multi-turn: {a.groups} conversations x {a.turns} turns, about {a.groups * per_conv:,} tokens of KV "
          f"against a pool of {pool:,} ({a.groups * per_conv / pool:.1f}x), {a.device}", file=sys.stderr)
    runs = {}
    for label, host in (("pool", None), ("host", a.host_cache)):
        runs[label] = serve_and_load(a, host, label)
        f = runs[label]
        print(f"{label}: {f['completed']} done, {f['failed']} failed, TTFT mean "
              f"{1e3 * f['ttft_s']['mean']:.1f} ms, {f['duration_s']:.1f} s", file=sys.stderr)
    print(f"| server | cached prompt tokens (ideal {100 * runs['pool']['ideal_cached_ratio']:.1f}%) "
          f"| TTFT mean / p50 / p99 | duration | failed |")
    print("| --- | ---: | --- | ---: | ---: |")
    names = {"pool": "pool only", "host": f"pool + --host-cache {a.host_cache}"}
    for label, f in runs.items():
        t = f["ttft_s"]
        cached = f["cached_ratio"] if f["cached_ratio"] is not None else float("nan")
        print(f"| {names[label]} | {100 * cached:.1f}% | {1e3 * t['mean']:,.0f} / {1e3 * t['p50']:,.0f} / "
              f"{1e3 * t['p99']:,.0f} ms | {f['duration_s']:.1f} s | {f['failed']} |")
    ratio = runs["pool"]["ttft_s"]["mean"] / runs["host"]["ttft_s"]["mean"]
    print(f"mean TTFT {ratio:.2f}x better with the host tier")
    if a.json:
        json.dump({"device": a.device, "pool_tokens": pool, "kv_tokens": a.groups * per_conv, "ratio": ratio,
                   "runs": {k: {key: v[key] for key in ("completed", "failed", "cached_ratio", "ideal_cached_ratio",
                                                        "ttft_s", "duration_s")}
                            for k, v in runs.items()}}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
