#!/usr/bin/python3
"""The KV tiers that outlive a process, end to end (`serve --host-cache` with
`--disk-cache` or `--kv-redis-url`):

  restart    a server computes a 400-token prompt, stops; a new server over the
             same directory serves that prompt's first 24 pages from disk
             (usage.cached_tokens_by_tier.disk), with the cold answer's token ids
  defects    a block file with a flipped byte and a truncated one are misses
             (counted as defects), never served: the prompt's cached prefix stops
             before the first bad block and the answer is unchanged
  another model  a different model over the same directory reads nothing
  Redis      two servers share one redis-server: a prompt computed on A is
             served from Redis on B; with Redis killed, B answers anyway (misses)

Usage: kv_store_check.py RADIXLM MODEL_DIR
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import serve_harness
from serve_harness import Failure, call, check, free_port


class Server(serve_harness.Server):
    def __init__(self, radixlm, model, extra):
        super().__init__(radixlm, model, ["--host-cache", "8MiB", *extra])

    def metric(self, name, tier):
        text = call(self.port, "/metrics")
        m = re.search(r"^" + name + r'\{model_name="m",tier="' + tier + r'"\} (\S+)$', text, re.M)
        check(m is not None, f"{name}{{tier={tier}}} missing from /metrics")
        return float(m.group(1))


def main():
    radixlm, model = sys.argv[1], sys.argv[2]
    rng = random.Random(9)
    prompt = [rng.randrange(300) for _ in range(400)]
    work = tempfile.mkdtemp(prefix="radixlm-kvstore-")
    redis = None
    try:
        disk = os.path.join(work, "disk")
        # --- restart ---
        a = Server(radixlm, model, ["--disk-cache", disk])
        cold_usage, cold = a.complete(prompt)
        check(cold_usage["cached_tokens_by_tier"] == {"device": 0, "host": 0, "disk": 0}, f"cold: {cold_usage}")
        a.stop()  # the store finishes its writes before the process exits
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(disk) for f in fs if f.endswith(".kv"))
        check(len(files) == 25, f"25 full pages written to disk, found {len(files)}")
        b = Server(radixlm, model, ["--disk-cache", disk])
        check(any("25 blocks of this model's KV found" in l for l in b.lines), "".join(b.lines))
        usage, ids = b.complete(prompt)
        check(ids == cold, f"after a restart: {ids} != {cold}")
        check(usage["cached_tokens_by_tier"] == {"device": 0, "host": 0, "disk": 384}, f"after a restart: {usage}")
        check(b.metric("radixlm:kv_store_loaded_blocks_total", "disk") == 24, "24 blocks read from disk")
        b.stop()

        # --- defects: a flipped payload byte is read and refused (a defect, a
        # miss), a truncated file is dropped when the directory is opened ---
        with open(files[3], "r+b") as f:
            f.seek(-100, os.SEEK_END)
            byte = f.read(1)
            f.seek(-100, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0x40]))
        c = Server(radixlm, model, ["--disk-cache", disk])
        usage, ids = c.complete(prompt)
        check(ids == cold, f"with a corrupt block: {ids} != {cold}")
        served = usage["cached_tokens_by_tier"]["disk"]
        check(served < 384 and served % 16 == 0, f"a corrupt block was served: {usage}")
        check(c.metric("radixlm:kv_store_defects_total", "disk") == 1, "the corrupt block counted")
        c.stop()
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(disk) for f in fs if f.endswith(".kv"))
        with open(files[7], "r+b") as f:
            f.truncate(1000)
        c = Server(radixlm, model, ["--disk-cache", disk])
        check(any("1 unfinished or bad files removed" in l for l in c.lines), "".join(c.lines))
        usage, ids = c.complete(prompt)
        check(ids == cold, f"with a truncated block: {ids} != {cold}")
        check(usage["cached_tokens_by_tier"]["disk"] < 384, f"a truncated block was served: {usage}")
        c.stop()

        # --- another model over the same directory reads nothing ---
        other = os.path.join(work, "other")
        subprocess.run([radixlm, "make-model", "--arch", "llama", "--preset", "tiny", "--seed", "77", "--out", other],
                       check=True, capture_output=True)
        d = Server(radixlm, other, ["--disk-cache", disk])
        check(any("0 blocks of this model's KV found" in l for l in d.lines), "".join(d.lines))
        usage, _ = d.complete(prompt)
        check(usage["prompt_tokens_details"]["cached_tokens"] == 0, f"another model read old blocks: {usage}")
        d.stop()

        # --- Redis shared by two servers ---
        rport = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", rport), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"redis://127.0.0.1:{rport}"
        ra = Server(radixlm, model, ["--kv-redis-url", url])
        rb = Server(radixlm, model, ["--kv-redis-url", url])
        try:
            usage, ids = ra.complete(prompt)
            check(ids == cold and usage["cached_tokens_by_tier"]["redis"] == 0, f"A: {usage}")
            for _ in range(100):  # A's writes are asynchronous
                if ra.metric("radixlm:kv_store_put_blocks_total", "redis") >= 25:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            usage, ids = rb.complete(prompt)
            check(ids == cold, f"B from Redis: {ids} != {cold}")
            check(usage["cached_tokens_by_tier"] == {"device": 0, "host": 0, "redis": 384}, f"B: {usage}")
            redis.kill()
            redis.wait()
            redis = None
            other_prompt = [rng.randrange(300) for _ in range(400)]
            usage, ids = rb.complete(other_prompt)
            check(usage["prompt_tokens_details"]["cached_tokens"] == 0 and len(ids) == 6,
                  f"with Redis down: {usage}")
        finally:
            ra.stop()
            rb.stop()

        # --- flags ---
        for flags, message in [(["--disk-cache", disk, "--kv-redis-url", url], "not both"),
                               (["--disk-cache", disk, "--disk-cache-size", "big"], "--disk-cache-size"),
                               (["--kv-redis-url", "http://x"], "redis")]:
            r = subprocess.run([radixlm, "serve", "--model", model, "--port", "0", "--host-cache", "8MiB", *flags],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode != 0 and message in (r.stdout + r.stderr).lower() if message.islower()
                  else r.returncode != 0 and message in r.stdout + r.stderr,
                  f"{flags}: exit {r.returncode}, {r.stdout + r.stderr}")
        r = subprocess.run([radixlm, "serve", "--model", model, "--port", "0", "--disk-cache", disk],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and "give --host-cache too" in r.stdout + r.stderr, r.stdout + r.stderr)
    finally:
        if redis is not None:
            redis.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("KV stores: restart from disk, damaged blocks missed, another model isolated, Redis shared and lost")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
