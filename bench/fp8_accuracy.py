#!/usr/bin/env python3
"""FP8 weights' accuracy on the CPU: logits of one model (make-model, one seed)
stored as F32 (the reference), BF16, and FP8 in both checkpoint formats
(compressed-tensors per-channel, fp8 128x128 blocks), each run by
`radixlm forward` on the CPU backend (F32 arithmetic, so the weights' format is
the only difference). Reports the relative L2 error of every position's logits
against the F32 run and the share of positions whose top-1 token agrees, and
checks that `--quantize fp8` of the BF16 checkpoint gives the compressed-tensors
checkpoint's logits bit for bit.

Usage: fp8_accuracy.py --radixlm build/src/tools/radixlm [--preset small]
       [--seed 1] [--tokens 256] [--work /tmp/fp8_accuracy] [--json out.json]
Standard library only (no numpy).
"""
import argparse
import json
import math
import os
import subprocess
import sys
from array import array


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--radixlm", required=True)
    p.add_argument("--preset", default="small")
    p.add_argument("--arch", default="")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--work", default="/tmp/fp8_accuracy")
    p.add_argument("--json", default="")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    arch = ["--arch", a.arch] if a.arch else []
    models = {
        "f32": ["--dtype", "f32"],
        "bf16": ["--dtype", "bf16"],
        "fp8 compressed-tensors (per channel)": ["--dtype", "fp8"],
        "fp8 fp8 (128x128 blocks)": ["--dtype", "fp8", "--fp8-kind", "fp8"],
    }
    dirs = {}
    for i, (name, flags) in enumerate(models.items()):
        d = os.path.join(a.work, "%s-%d-%d" % (a.preset, a.seed, i))
        if not os.path.exists(os.path.join(d, "config.json")):
            run([a.radixlm, "make-model", "--preset", a.preset, "--seed", str(a.seed), "--out", d]
                + arch + flags)
        dirs[name] = d
    config = json.load(open(os.path.join(dirs["f32"], "config.json")))
    vocab = config["vocab_size"]
    # Token ids from a fixed LCG over the vocabulary.
    state, ids = 12345, []
    for _ in range(a.tokens):
        state = (state * 1103515245 + 12345) % (1 << 31)
        ids.append(state % vocab)
    tokens = ",".join(map(str, ids))
    logits = {}
    for name, d in dirs.items():
        out = os.path.join(a.work, "logits-%d.f32" % len(logits))
        run([a.radixlm, "forward", "--model", d, "--tokens", tokens, "--out", out])
        logits[name] = load(out)
    out = os.path.join(a.work, "logits-quantized.f32")
    run([a.radixlm, "forward", "--model", dirs["bf16"], "--quantize", "fp8", "--tokens", tokens,
         "--out", out])
    quantized = load(out)
    identical = quantized.tobytes() == logits["fp8 compressed-tensors (per channel)"].tobytes()

    ref = logits["f32"]
    bf16_error = None
    rows = []
    print("preset %s, seed %d, %d tokens, vocab %d; CPU backend, F32 reference" %
          (a.preset, a.seed, a.tokens, vocab))
    print("%-40s %14s %10s %14s" % ("weights", "rel L2 vs F32", "x BF16's", "top-1 vs F32"))
    for name, x in logits.items():
        if name == "f32":
            continue
        err, top1 = compare(x, ref, vocab)
        if name == "bf16":
            bf16_error = err
        ratio = err / bf16_error
        rows.append({"weights": name, "rel_l2": err, "x_bf16": ratio, "top1": top1})
        print("%-40s %14.3e %10.2f %13.1f%%" % (name, err, ratio, 100 * top1))
    fp8_vs_bf16, top1_vs_bf16 = compare(logits["fp8 compressed-tensors (per channel)"],
                                        logits["bf16"], vocab)
    print("fp8 per channel against bf16: rel L2 %.3e, top-1 %.1f%%" %
          (fp8_vs_bf16, 100 * top1_vs_bf16))
    print("--quantize fp8 of the bf16 checkpoint == the fp8 checkpoint, bit for bit: %s" %
          ("yes" if identical else "NO"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"preset": a.preset, "seed": a.seed, "tokens": a.tokens, "rows": rows,
                       "quantize_identical": identical}, f, indent=1)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
