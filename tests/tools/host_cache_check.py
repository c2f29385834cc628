#!/usr/bin/python3
"""`serve --host-cache` end to end: a KV pool of 40 pages (one 400-token prompt
and a little) with a host tier below it. Three 400-token prompts in turn push
the first out of the pool; asked again, it comes back from host memory
(usage.cached_tokens_by_tier.host), its token ids equal to the cold answer's
and to a server without the tier; /metrics and /v1/cache/stats count the
pages moved; a cache flush empties the tier; bad flags are refused by name.

Usage: host_cache_check.py RADIXLM MODEL_DIR
"""
import random
import re
import subprocess
import sys

from serve_harness import Failure, Server, call, check


def main():
    radixlm, model = sys.argv[1], sys.argv[2]
    rng = random.Random(5)
    prompts = [[rng.randrange(300) for _ in range(400)] for _ in range(3)]
    order = [0, 1, 2, 0]

    plain = Server(radixlm, model, [])
    try:
        reference = [plain.complete(prompts[k]) for k in order]
    finally:
        plain.stop()
    check(reference[3][0]["prompt_tokens_details"]["cached_tokens"] == 0,
          f"the pool should have evicted the first prompt: {reference[3][0]}")
    check("cached_tokens_by_tier" not in reference[3][0], "a server without tiers reports no tier split")

    server = Server(radixlm, model, ["--host-cache", "8MiB"])
    port = server.port
    try:
        check(any("host cache: 1024 pages (16384 tokens, 8.0 MiB" in l for l in server.lines),
              "start-up names the host cache:\n" + "".join(server.lines))
        got = [server.complete(prompts[k]) for k in order]
        for i, ((usage, ids), (_, ref_ids)) in enumerate(zip(got, reference)):
            check(ids == ref_ids, f"request {i}: token ids {ids} differ from the server without tiers {ref_ids}")
            if i < 3:
                check(usage["cached_tokens_by_tier"] == {"device": 0, "host": 0}, f"request {i}: {usage}")
        usage = got[3][0]
        # 399 matchable tokens: 24 whole pages come back from the host.
        check(usage["prompt_tokens_details"]["cached_tokens"] == 384, f"cached: {usage}")
        check(usage["cached_tokens_by_tier"] == {"device": 0, "host": 384}, f"by tier: {usage}")

        metrics = call(port, "/metrics")
        def metric(name):
            m = re.search(r"^" + name + r'\{model_name="m",tier="host"\} (\S+)$', metrics, re.M)
            check(m is not None, f"{name} missing from /metrics")
            return float(m.group(1))
        check(metric("radixlm:kv_tier_loaded_blocks_total") == 24, "24 pages loaded")
        check(metric("radixlm:kv_tier_written_blocks_total") == 75, "3 x 25 full pages written through")
        check(metric("radixlm:kv_tier_blocks") == 75, "75 pages held")
        check(metric("radixlm:prompt_tokens_cached_by_tier_total") == 384, "384 tokens from the host")
        stats = call(port, "/v1/cache/stats")
        check(stats["tiers"]["host"]["loaded_blocks"] == 24 and stats["tiers"]["host"]["capacity_blocks"] == 1024,
              f"/v1/cache/stats tiers: {stats.get('tiers')}")

        # A flush empties the tier too: the prompt is computed again.
        call(port, "/v1/cache/flush", {})
        for k in [1, 2, 0]:
            usage, _ = server.complete(prompts[k])
        check(usage["prompt_tokens_details"]["cached_tokens"] == 0, f"after a flush: {usage}")
    finally:
        server.stop()

    for flags, message in [(["--host-cache", "lots"], "--host-cache: 'lots' is not a size"),
                           (["--host-cache", "1KiB"], "holds no page"),
                           (["--host-cache", "8MiB", "--no-prefix-cache"], "needs the prefix cache")]:
        r = subprocess.run([radixlm, "serve", "--model", model, "--port", "0", *flags],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and message in r.stdout + r.stderr,
              f"{flags}: exit {r.returncode}, {r.stdout + r.stderr}")
    print("host cache: evicted prompt served from host memory with the same token ids; metrics, flush and flags checked")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
