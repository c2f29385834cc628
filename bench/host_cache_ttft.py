#!/usr/bin/env python3
"""Time to first token when a prompt's prefix comes back from the host tier
(`serve --host-cache`), against the same prompt cold and against its prefix
still on the device, in one run:

    python3 bench/host_cache_ttft.py RADIXLM MODEL_DIR [--device cpu|cuda]
        [--prompt-tokens 8191] [--tail 127] [--rounds 3] [--host-cache 4GiB]
        [--disk-cache DIR] [--json OUT]

One server; its KV pool holds one such prompt and a little (so the next prompt
evicts the last), with a host cache below it (--host-cache: room for both). Each round, with
fresh random token prompts P (prompt-tokens long) and Q:
  cold     P, nothing cached
  device   P[:-tail] + a new tail: the prefix still in the pool
  evict    Q, cold (pushes P out of the pool; its pages stay on the host)
  host     P[:-tail] + another new tail: the prefix loaded from host memory
  disk     with --disk-cache: the device and host caches flushed, P[:-tail] +
           a third tail: the prefix read from the directory (through the host),
           once the directory's writer has stopped adding blocks (the tier's counts
           before and after are printed: puts dropped, blocks skipped as slower)
TTFT is the time to the first streamed token (max_tokens 1), medians over the
rounds; the served usage confirms where the cached tokens came from.
"""
import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ttft(port, prompt):
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": 1, "temperature": 0,
                       "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    first = None
    usage = None
    try:
        r = urllib.request.urlopen(req, timeout=600)
    except urllib.error.HTTPError as e:
        sys.exit(f"HTTP {e.code} for a {len(prompt)}-token prompt: {e.read().decode(errors='replace')[:300]}")
    with r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk.get("choices"):
                first = time.perf_counter() - start
            if chunk.get("usage"):
                usage = chunk["usage"]
    return first, usage


def cache_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/cache/stats", timeout=30) as r:
        return json.loads(r.read())


def wait_for_disk_writes(port, limit_s=120):
    """Polls the disk tier until its block count has not grown for a second."""
    last, still_since = -1, time.monotonic()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        disk = cache_stats(port)["tiers"]["disk"]
        if disk["blocks"] != last:
            last, still_since = disk["blocks"], time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            return disk
        time.sleep(0.2)
    return cache_stats(port)["tiers"]["disk"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("radixlm")
    p.add_argument("model")
    p.add_argument("--device", default="cpu")
    # A prompt and its one output token within an 8,192-token context; its first
    # 8,064 tokens (504 pages of 16) cached.
    p.add_argument("--prompt-tokens", type=int, default=8191)
    p.add_argument("--tail", type=int, default=127)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--page-size", type=int, default=16)
    p.add_argument("--vocab", type=int, default=256, help="token ids drawn from [0, vocab)")
    p.add_argument("--host-cache", default="4GiB", help="serve --host-cache (at least two prompts' KV)")
    p.add_argument("--disk-cache", help="serve --disk-cache DIR: also time loads from the directory")
    p.add_argument("--json")
    a = p.parse_args()
    pages = -(-a.prompt_tokens // a.page_size) + 8
    port = free_port()
    log = open("/tmp/host_cache_ttft_server.log", "w")
    server = subprocess.Popen([a.radixlm, "serve", "--model", a.model, "--device", a.device, "--port", str(port),
                               "--served-model-name", "m", "--page-size", str(a.page_size), "--kv-pages",
                               str(pages), "--host-cache", a.host_cache] +
                              (["--disk-cache", a.disk_cache] if a.disk_cache else []),
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except Exception:
                if server.poll() is not None:
                    sys.exit("the server exited: see /tmp/host_cache_ttft_server.log")
                time.sleep(0.25)
        rng = random.Random(1)
        def tokens(n):
            return [rng.randrange(a.vocab) for _ in range(n)]
        ttft(port, tokens(32))  # warm-up
        rows = {"cold": [], "device": [], "host": []}
        cached = {"device": [], "host": []}
        if a.disk_cache:
            rows["disk"] = []
            cached["disk"] = []
        for r in range(a.rounds):
            P, Q = tokens(a.prompt_tokens), tokens(a.prompt_tokens)
            head = P[:a.prompt_tokens - a.tail]
            t, u = ttft(port, P)
            rows["cold"].append(t)
            t, u = ttft(port, head + tokens(a.tail))
            rows["device"].append(t)
            cached["device"].append(u)
            ttft(port, Q)
            t, u = ttft(port, head + tokens(a.tail))
            rows["host"].append(t)
            cached["host"].append(u)
            if a.disk_cache:
                # Let the directory's writer finish (its block count stops
                # growing), then empty the faster tiers.
                disk = wait_for_disk_writes(port)
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/cache/flush", data=b"{}",
                    headers={"Content-Type": "application/json"}), timeout=60).read()
                t, u = ttft(port, head + tokens(a.tail))
                rows["disk"].append(t)
                cached["disk"].append(u)
                after = cache_stats(port)["tiers"]["disk"]
                print(f"  disk tier: {disk['blocks']} blocks before the flush, {disk['dropped_puts']} puts "
                      f"dropped; the read: {after['loaded_blocks']} blocks loaded in all, "
                      f"{after['skipped_blocks']} skipped as slower than computing, "
                      f"{after['read_seconds_per_block'] * 1e3:.2f} ms a block", file=sys.stderr)
            print(f"round {r + 1}: cold {1e3 * rows['cold'][-1]:.1f} ms, device {1e3 * rows['device'][-1]:.1f} ms, "
                  f"host {1e3 * rows['host'][-1]:.1f} ms (host-cached {u.get('cached_tokens_by_tier')})",
                  file=sys.stderr)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"TTFT, {a.prompt_tokens}-token prompt, last {a.tail} new, {a.device}, medians of {a.rounds}:")
        print(f"  {'prefix':<28} {'TTFT ms':>9} {'of cold':>8}  cached tokens (device / host"
              f"{' / disk' if a.disk_cache else ''})")
        print(f"  {'none (cold)':<28} {1e3 * med['cold']:>9.1f} {1.0:>8.3f}")
        kinds = [("device", "on the device"), ("host", "loaded from the host cache")]
        if a.disk_cache:
            kinds.append(("disk", "read from the disk cache"))
        for k, label in kinds:
            u = cached[k][-1] or {}
            tier = u.get("cached_tokens_by_tier", {})
            where = f"{tier.get('device')} / {tier.get('host')}"
            if a.disk_cache:
                where += f" / {tier.get('disk')}"
            print(f"  {label:<28} {1e3 * med[k]:>9.1f} {med[k] / med['cold']:>8.3f}  {where}")
        if a.json:
            json.dump({"prompt_tokens": a.prompt_tokens, "tail": a.tail, "device": a.device, "rounds": rows,
                       "median_s": med, "usage": cached}, open(a.json, "w"), indent=1)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
