"""What the `serve` end-to-end checks in tests/tools share: a failure type,
free ports, JSON calls, and a `radixlm serve` started on a free port (its
start-up lines kept) with completions that return token ids."""
import json
import socket
import subprocess
import time
import urllib.request


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
        return json.loads(text) if r.headers.get("Content-Type", "").startswith("application/json") else text


class Server:
    """`radixlm serve --model MODEL --port P --threads 1 --page-size 16
    --kv-pages 40 --served-model-name m EXTRA...`, up when it says so
    (`pool` replaces `--kv-pages 40`, e.g. with `--kv-memory 2MiB`)."""

    def __init__(self, radixlm, model, extra, pool=("--kv-pages", "40")):
        self.port = free_port()
        self.p = subprocess.Popen([radixlm, "serve", "--model", model, "--port", str(self.port), "--threads", "1",
                                   "--page-size", "16", *pool, "--served-model-name", "m", *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "listening on" in line:
                return
        self.p.kill()
        raise Failure("server did not start:\n" + "".join(self.lines))

    def complete(self, prompt):
        """Greedy, 6 tokens: (usage, the token ids as `token_id:N` names)."""
        r = call(self.port, "/v1/completions", {"model": "m", "prompt": prompt, "max_tokens": 6, "temperature": 0,
                                                "ignore_eos": True, "logprobs": 0,
                                                "return_tokens_as_token_ids": True})
        return r["usage"], r["choices"][0]["logprobs"]["tokens"]

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=60)
