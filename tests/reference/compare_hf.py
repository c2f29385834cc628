#!/usr/bin/env python3
"""Compares radixlm with Hugging Face transformers on models radixlm makes.

For each architecture and preset: `radixlm make-model` writes a directory;
transformers loads it unchanged (AutoModelForCausalLM, AutoTokenizer); the
logits of every position of a random prompt must agree with `radixlm forward`
to a relative error (max |difference| / max |logit|) of 1e-4, and the
tokenizer must give the same ids as `radixlm tokenize`.

--device cuda checks the CUDA backend instead: `radixlm forward --device cuda`
(BF16 weights, BF16 matrix inputs and K/V, F32 accumulation and residual
stream) against transformers in float32 on the GPU (TF32 off), with BF16
weights written by make-model (--dtype bf16 unless given) so both sides start
from the same numbers. The yardstick is transformers itself in bfloat16 on the
GPU, against the same float32 run: a case passes when radixlm's error is at most
--bf16-factor (2) times that yardstick, or at most --tolerance (1e-2 with
cuda), whichever is larger. BF16 keeps 8 bits of mantissa (a relative step of
2^-8 = 3.9e-3), so errors of 1e-3 to 1e-2 of the largest logit are what BF16
arithmetic gives; an error well above transformers' own BF16 error is a bug.

Exits 77 (skipped) where torch or transformers is not installed, 1 on any
disagreement (or when --device cuda finds no GPU for torch). Usage:
compare_hf.py --radixlm PATH [--work DIR] [--cases ...] [--device cpu|cuda]
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
    # Sliding window 32, shorter than the prompt.
    "mistral-tiny": (["--arch", "mistral", "--preset", "tiny"], 96),
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
    parser.add_argument("--cases", default="llama-tiny,llama-tiny-mqa,qwen2-tiny,gpt2-tiny,mistral-tiny")
    parser.add_argument("--dtype", help="weights written by make-model (default f32; bf16 with --device cuda)")
    parser.add_argument("--tolerance", type=float, help="relative error bound (default 1e-4; 1e-2 with --device cuda)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="the radixlm backend; cuda also runs transformers on the GPU")
    parser.add_argument("--bf16-factor", type=float, default=2.0,
                        help="cuda: pass within this many times transformers' own bfloat16 error")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if args.dtype is None:
        args.dtype = "bf16" if cuda else "f32"
    if args.tolerance is None:
        args.tolerance = 1e-2 if cuda else 1e-4
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
    if cuda and device != "cuda":
        print("--device cuda: torch sees no GPU (torch.cuda.is_available() is False)")
        return 1
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, on {device}"
          + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else "")
          + f"; radixlm --device {args.device}, {args.dtype} weights")
    os.makedirs(args.work, exist_ok=True)
    results, failed = [], False
    yard_head = f" {'hf bf16':>9} {'x bf16':>7}" if cuda else ""
    print(f"{'case':<16} {'params':>9} {'tokens':>6} {'max |logit|':>12} {'rel error':>10} {'rel L2':>9}{yard_head}"
          f" {'argmax':>7} {'tokenizer':>9}")
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
                        "--out", logits_path, "--device", args.device], check=True, stdout=subprocess.DEVNULL)
        ours = np.fromfile(logits_path, dtype=np.float32).reshape(length, config["vocab_size"]).astype(np.float64)
        radixlm_s = time.time() - start
        def hf_logits(dtype):
            try:
                model = AutoModelForCausalLM.from_pretrained(out, dtype=dtype)
            except TypeError:  # transformers before 4.56
                model = AutoModelForCausalLM.from_pretrained(out, torch_dtype=dtype)
            model = model.to(device).eval()
            with torch.no_grad():
                logits = model(torch.tensor([tokens], device=device)).logits[0].double().cpu().numpy()
            params = sum(p.numel() for p in model.parameters())
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
            return logits, params

        theirs, params = hf_logits(torch.float32)
        scale = float(np.abs(theirs).max())
        rel = float(np.abs(ours - theirs).max()) / scale
        rel_l2 = float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))
        argmax = float((ours.argmax(-1) == theirs.argmax(-1)).mean())
        yard = None
        if cuda:
            hf_bf16, _ = hf_logits(torch.bfloat16)
            yard = float(np.abs(hf_bf16 - theirs).max()) / scale
            bound = max(args.bf16_factor * yard, args.tolerance)
        else:
            bound = args.tolerance
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
        ok = rel <= bound and tok_ok
        failed |= not ok
        yard_cols = f" {yard:>9.2e} {rel / yard if yard else float('inf'):>7.2f}" if cuda else ""
        print(f"{name:<16} {params / 1e6:>8.1f}M {length:>6} {scale:>12.4f} {rel:>10.2e} {rel_l2:>9.2e}{yard_cols}"
              f" {argmax:>7.1%} {'same' if tok_ok else 'DIFFERS':>9}{'' if ok else f'  FAIL (bound {bound:.2e})'}")
        results.append({"case": name, "parameters": params, "tokens": length, "max_abs_logit": scale,
                        "relative_error": rel, "relative_l2": rel_l2, "hf_bf16_relative_error": yard,
                        "bound": bound, "argmax_agreement": argmax, "tokenizer_same": tok_ok,
                        "radixlm_forward_s": radixlm_s, "device": device, "radixlm_device": args.device,
                        "dtype": args.dtype})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                       "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                       "radixlm_device": args.device, "dtype": args.dtype, "tolerance": args.tolerance,
                       "bf16_factor": args.bf16_factor if cuda else None, "results": results}, f, indent=1)
    if failed:
        print("FAILED")
    elif cuda:
        print(f"all {len(results)} cases within {args.bf16_factor:g}x transformers' bfloat16 error or "
              f"{args.tolerance:g}")
    else:
        print(f"all {len(results)} cases within {args.tolerance:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
