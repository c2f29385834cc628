#!/usr/bin/python3
"""`serve --tensor-parallel N` end to end on the CPU: servers at TP=1, 2 and 4
(the tiny model's 2 KV heads each on two ranks at 4) answer the same greedy
completions with the same token ids, including prompts whose prefix comes
from the cache (the ranks' pages are driven by one radix tree); at TP=2 an
evicted prompt comes back from the host tier (every rank's part of its pages)
with its cold token ids; start-up names the split; bad sizes and --device cuda
are refused by name.

Usage: tensor_parallel_check.py RADIXLM MODEL_DIR
"""
import random
import subprocess
import sys

from serve_harness import Failure, Server, check


def main():
    radixlm, model = sys.argv[1], sys.argv[2]
    rng = random.Random(7)
    shared = [rng.randrange(300) for _ in range(70)]
    prompts = [
        [rng.randrange(300) for _ in range(40)],
        shared + [rng.randrange(300) for _ in range(30)],
        shared + [rng.randrange(300) for _ in range(25)],  # 70 tokens from the cache
    ]
    order = [0, 1, 2, 0]  # the last one all but one token from the cache

    answers = {}
    for n in (1, 2, 4):
        server = Server(radixlm, model, ["--tensor-parallel", str(n)])
        try:
            if n > 1:
                check(any(f"tensor parallel {n} (cpu-tp{n})" in line for line in server.lines),
                      "start-up names the split:\n" + "".join(server.lines))
            answers[n] = [server.complete(prompts[k]) for k in order]
        finally:
            server.stop()
        cached = [usage["prompt_tokens_details"]["cached_tokens"] for usage, _ in answers[n]]
        check(cached[0] == 0 and cached[2] == 70 and cached[3] == 39,
              f"TP={n}: cached tokens {cached} (want 0, _, 70, 39)")
    for n in (2, 4):
        for i, ((_, ids), (_, ref)) in enumerate(zip(answers[n], answers[1])):
            check(ids == ref, f"TP={n}, request {i}: token ids {ids} differ from TP=1's {ref}")

    # The KV tiers move every rank's part of a page: three 400-token prompts
    # push the first out of the 40-page pool; asked again it comes back from
    # host memory with the cold answer's token ids.
    long_prompts = [[rng.randrange(300) for _ in range(400)] for _ in range(3)]
    server = Server(radixlm, model, ["--tensor-parallel", "2", "--host-cache", "8MiB"])
    try:
        got = [server.complete(long_prompts[k]) for k in [0, 1, 2, 0]]
    finally:
        server.stop()
    usage = got[3][0]
    check(usage["cached_tokens_by_tier"] == {"device": 0, "host": 384}, f"TP=2 host tier: {usage}")
    check(got[3][1] == got[0][1], f"TP=2: ids from the host tier {got[3][1]} differ from cold {got[0][1]}")

    for flags, message in [
            (["--tensor-parallel", "0"], "--tensor-parallel 0: must be at least 1"),
            (["--tensor-parallel", "3"], "the model's 4 attention heads do not split evenly over 3 ranks"),
            (["--tensor-parallel", "2", "--device", "cuda"], "tensor parallelism on CUDA is not built yet")]:
        r = subprocess.run([radixlm, "serve", "--model", model, "--port", "0", *flags],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and message in r.stdout + r.stderr,
              f"{flags}: exit {r.returncode}, {r.stdout + r.stderr}")
    print("tensor parallel: TP=2 and TP=4 answer TP=1's token ids, cache and host-tier hits included; bad sizes refused")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAILED: {e}")
        sys.exit(1)
