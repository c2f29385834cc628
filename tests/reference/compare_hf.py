#!/usr/bin/env python3
"""Compares radixlm with Hugging Face transformers on models radixlm makes.

For each architecture and preset: `radixlm make-model` writes a directory;
transformers loads it unchanged (AutoModelForCausalLM, AutoTokenizer); the
logits of every position of a random prompt must agree with `radixlm forward`
to a relative error (max |difference| / max |logit|) of 1e-4, and the
tokenizer must give the same ids as `radixlm tokenize`.

Exits 77 (skipped) where torch or transformers is not installed, 1 on any
disagreement. Usage: compare_hf.py --radixlm PATH [--work DIR] [--cases ...]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

SKIP = 77
# (name, make-model arguments, prompt length). The tiny cases run anywhere; the
# real shapes need a machine with memory for them (--cases selects).
CASES = {
    "llama-tiny": (["--arch", "llama", "--preset", "tiny"], 96),
    "llama-tiny-mqa": (["--arch", "llama", "--preset", "tiny", "--kv-heads", "1"], 96),
    "qwen2-tiny": (["--arch", "qwen2", "--preset", "tiny"], 96),
    "gpt2-tiny": (["--arch", "gpt2", "--preset", "tiny"], 96),
    "llama-small": (["--arch", "llama", "--preset", "small"], 256),
    "qwen2-small": (["--arch", "qwen2", "--preset", "small"], 256),
    "gpt2-small": (["--arch", "gpt2", "--preset", "small"], 256),
    "qwen2.5-0.5b": (["--preset", "qwen2.5-0.5b"], 256),
    "llama3.2-1b": (["--preset", "llama3.2-1b"], 256),
}
TEXTS = ["Hello, world!", "  two  spaces\tand a tab\n", "naïve café 世界 🙂", "<|endoftext|>x", "1234567 it's"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--radixlm", required=True)
    parser.add_argument("--work", default="/tmp/radixlm_hf_compare")
    parser.add_argument("--cases", default="llama-tiny,llama-tiny-mqa,qwen2-tiny,gpt2-tiny")
    parser.add_argument("--dtype", default="f32", help="weights written by make-model")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    try:
        import numpy as np
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        print(f"skipped: {e} (the comparison needs torch and transformers)")
        return SKIP
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, on {device}")
    os.makedirs(args.work, exist_ok=True)
    results, failed = [], False
    print(f"{'case':<16} {'params':>9} {'tokens':>6} {'max |logit|':>12} {'rel error':>10} {'argmax':>7} {'tokenizer':>9}")
    for name in args.cases.split(","):
        make_args, length = CASES[name]
        out = os.path.join(args.work, name)
        subprocess.run([args.radixlm, "make-model", *make_args, "--seed", "5", "--dtype", args.dtype, "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        config = json.load(open(os.path.join(out, "config.json")))
        rng = random.Random(11)
        tokens = [rng.randrange(config["vocab_size"]) for _ in range(length)]
        logits_path = os.path.join(out, "radixlm_logits.f32")
        start = time.time()
        subprocess.run([args.radixlm, "forward", "--model", out, "--tokens", ",".join(map(str, tokens)),
                        "--out", logits_path], check=True, stdout=subprocess.DEVNULL)
        ours = np.fromfile(logits_path, dtype=np.float32).reshape(length, config["vocab_size"]).astype(np.float64)
        radixlm_s = time.time() - start
        try:
            model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        except TypeError:  # transformers before 4.56
            model = AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.float32)
        model = model.to(device).eval()
        with torch.no_grad():
            theirs = model(torch.tensor([tokens], device=device)).logits[0].double().cpu().numpy()
        params = sum(p.numel() for p in model.parameters())
        del model
        scale = float(np.abs(theirs).max())
        rel = float(np.abs(ours - theirs).max()) / scale
        argmax = float((ours.argmax(-1) == theirs.argmax(-1)).mean())
        tok = AutoTokenizer.from_pretrained(out)
        tok_ok = True
        for text in TEXTS:
            want = tok(text, add_special_tokens=False)["input_ids"]
            got = subprocess.run([args.radixlm, "tokenize", "--model", out, "--text", text], check=True,
                                 capture_output=True, text=True).stdout.strip()
            got = [int(x) for x in got.split(",")] if got else []
            if got != want:
                tok_ok = False
                print(f"  tokenizer differs on {text!r}: radixlm {got}, transformers {want}")
        ok = rel <= args.tolerance and tok_ok
        failed |= not ok
        print(f"{name:<16} {params / 1e6:>8.1f}M {length:>6} {scale:>12.4f} {rel:>10.2e} {argmax:>7.1%} "
              f"{'same' if tok_ok else 'DIFFERS':>9}{'' if ok else '  FAIL'}")
        results.append({"case": name, "parameters": params, "tokens": length, "max_abs_logit": scale,
                        "relative_error": rel, "argmax_agreement": argmax, "tokenizer_same": tok_ok,
                        "radixlm_forward_s": radixlm_s, "device": device})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "results": results},
                      f, indent=1)
    print("FAILED" if failed else f"all {len(results)} cases within {args.tolerance:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
