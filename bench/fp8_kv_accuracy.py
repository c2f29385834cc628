#!/usr/bin/env python3
"""The FP8 KV cache's accuracy on the CPU: logits of `radixlm forward
--kv-dtype fp8` against the same model's `radixlm forward` (an F32 KV pool),
both on the CPU backend (F32 arithmetic, so the KV pool's format is the only
difference), for several make-model architectures and presets with F32
weights. Reports the relative L2 error of every position's logits against the
F32 pool's and the share of positions whose top-1 token agrees.

Then, on one model with FP8 weights (compressed-tensors), the effect of the
checkpoint's KV cache scales (make-model --kv-cache-scale S; none = 1.0): the
FP8 pool against the same checkpoint's F32 pool.

Usage: fp8_kv_accuracy.py --radixlm build/src/tools/radixlm [--tokens 512]
       [--seed 1] [--work /tmp/fp8_kv_accuracy] [--json out.json]
Standard library only (no numpy).
"""
import argparse
import json
import math
import os
import subprocess
import sys
from array import array

# (arch, preset): the models compared.
MODELS = [("llama", "small"), ("qwen2", "small"), ("gpt2", "small"), ("llama", "tiny"),
          ("mistral", "tiny")]
SCALES = [None, 0.0078125, 0.25, 4.0]  # KV cache scales on the FP8-weight model


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
    return out.stdout


def load(path):
    a = array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def compare(x, ref, vocab):
    num = sum((a - b) * (a - b) for a, b in zip(x, ref))
    den = sum(b * b for b in ref)
    rows = len(ref) // vocab
    agree = 0
    for t in range(rows):
        lo = t * vocab
        rx, rr = x[lo:lo + vocab], ref[lo:lo + vocab]
        agree += rx.index(max(rx)) == rr.index(max(rr))
    return math.sqrt(num / den), agree / rows


def make(radixlm, work, name, flags):
    d = os.path.join(work, name)
    if not os.path.exists(os.path.join(d, "config.json")):
        run([radixlm, "make-model", "--out", d] + flags)
    return d


def tokens_for(d, n):
    vocab = json.load(open(os.path.join(d, "config.json")))["vocab_size"]
    state, ids = 12345, []  # a fixed LCG over the vocabulary
    for _ in range(n):
        state = (state * 1103515245 + 12345) % (1 << 31)
        ids.append(state % vocab)
    return vocab, ",".join(map(str, ids))


def forward(radixlm, work, d, tokens, kv):
    out = os.path.join(work, "logits-%s-%s.f32" % (os.path.basename(d), kv))
    line = run([radixlm, "forward", "--model", d, "--tokens", tokens, "--out", out,
                "--kv-dtype", kv])
    return load(out), line.strip().rsplit("(", 1)[-1].rstrip(")")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--radixlm", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--work", default="/tmp/fp8_kv_accuracy")
    p.add_argument("--json", default="")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rows = []
    print("FP8 KV against F32 KV, CPU backend, %d tokens, seed %d, F32 weights" % (a.tokens, a.seed))
    print("%-16s %14s %12s  %s" % ("model", "rel L2 vs F32", "top-1", "runtime"))
    for arch, preset in MODELS:
        d = make(a.radixlm, a.work, "%s-%s-%d-f32" % (arch, preset, a.seed),
                 ["--arch", arch, "--preset", preset, "--seed", str(a.seed), "--dtype", "f32"])
        vocab, tokens = tokens_for(d, a.tokens)
        ref, _ = forward(a.radixlm, a.work, d, tokens, "auto")
        got, runtime = forward(a.radixlm, a.work, d, tokens, "fp8")
        err, top1 = compare(got, ref, vocab)
        rows.append({"model": "%s %s" % (arch, preset), "weights": "f32", "kv_scale": 1.0,
                     "rel_l2": err, "top1": top1, "runtime": runtime})
        print("%-16s %14.3e %11.1f%%  %s" % ("%s %s" % (arch, preset), err, 100 * top1, runtime))

    print("\nllama small, FP8 weights (compressed-tensors): FP8 KV against the same checkpoint's "
          "F32 KV, by KV cache scale")
    print("%-16s %14s %12s" % ("k/v scale", "rel L2 vs F32", "top-1"))
    ref = None
    for scale in SCALES:
        flags = ["--arch", "llama", "--preset", "small", "--seed", str(a.seed), "--dtype", "fp8"]
        name = "llama-small-%d-fp8" % a.seed
        if scale is not None:
            flags += ["--kv-cache-scale", repr(scale)]
            name += "-kv%s" % repr(scale)
        d = make(a.radixlm, a.work, name, flags)
        vocab, tokens = tokens_for(d, a.tokens)
        if ref is None:  # the scales do not touch the F32 pool: one reference
            ref, _ = forward(a.radixlm, a.work, d, tokens, "auto")
        got, runtime = forward(a.radixlm, a.work, d, tokens, "fp8")
        err, top1 = compare(got, ref, vocab)
        label = "none (1.0)" if scale is None else repr(scale)
        rows.append({"model": "llama small", "weights": "fp8", "kv_scale": scale or 1.0,
                     "rel_l2": err, "top1": top1, "runtime": runtime})
        print("%-16s %14.3e %11.1f%%" % (label, err, 100 * top1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "tokens": a.tokens, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
