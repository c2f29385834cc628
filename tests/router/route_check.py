#!/usr/bin/python3
"""`radixlm route` end to end: two replicas of the tiny model with KV events, a
router in front (exact mode), then a second router without events (approximate
mode). Checks cache affinity (a tenant's second request is served from cache on
the replica that has its prefix), pass-through of streams, chat, embeddings, errors and models,
/metrics, draining, a client leaving a non-streamed request (the replica aborts it),
fail-over when a replica is killed (no client hangs; the router
forgets the dead replica's blocks), and auth pass-through with --tenant-keys (the
router's predicted cached tokens equal the keyed replica's reported ones).

Usage: route_check.py RADIXLM MODEL_DIR
"""
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

PAGE = 16


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, path, body=None, timeout=60, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


class Proc:
    def __init__(self, args):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.out = []
        threading.Thread(target=lambda: self.out.extend(self.p.stdout), daemon=True).start()

    def wait_up(self, port):
        deadline = time.time() + 60
        while time.time() < deadline:
            check(self.p.poll() is None, "exited: " + "".join(self.out))
            try:
                if request(port, "/health", timeout=2)[0] == 200:
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise Failure("did not come up: " + "".join(self.out))

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()


def metric(text, name, replica):
    m = re.search(re.escape(name) + r'\{replica="' + re.escape(replica) + r'"\} (\S+)', text)
    check(m is not None, f"{name} for {replica} missing from /metrics")
    return float(m.group(1))


def aborted(port):
    """A replica's requests finished as aborted (its /metrics)."""
    _, _, text = request(port, "/metrics")
    m = re.search(r'radixlm:request_success_total\{[^}]*finished_reason="abort"[^}]*\} (\S+)', text)
    check(m is not None, "abort count missing from a replica's /metrics")
    return float(m.group(1))


def leave_early(port, body, after_s):
    """Sends a non-streamed request and closes the connection after after_s."""
    data = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        s.settimeout(after_s)
        try:
            got = s.recv(1)
        except socket.timeout:
            got = b""
        check(got == b"", "the long request answered before its client left")


def admin(port, path, replica, key):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=json.dumps({"replica": replica}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def completion(port, prompt, **extra):
    body = {"prompt": prompt, "max_tokens": 4, "temperature": 0, "ignore_eos": True}
    body.update(extra)
    status, _, text = request(port, "/v1/completions", body)
    check(status == 200, f"completion: {status} {text}")
    return json.loads(text)


def main():
    radixlm, model = sys.argv[1], sys.argv[2]
    procs = []
    try:
        replicas = []
        for _ in range(2):
            port, ev, rp = free_port(), free_port(), free_port()
            p = Proc([radixlm, "serve", "--model", model, "--port", str(port), "--page-size",
                      str(PAGE), "--kv-events-endpoint", f"tcp://127.0.0.1:{ev}",
                      "--kv-events-replay-endpoint", f"tcp://127.0.0.1:{rp}"])
            procs.append(p)
            replicas.append((port, ev, rp, p))
        for port, _, _, p in replicas:
            p.wait_up(port)
        urls = [f"http://127.0.0.1:{r[0]}" for r in replicas]
        rport = free_port()
        args = [radixlm, "route", "--model", model, "--page-size", str(PAGE), "--port", str(rport),
                "--health-interval", "0.2", "--admin-key", "adm"]
        for (port, ev, rp, _), url in zip(replicas, urls):
            args += ["--replica", url, "--replica-events", f"tcp://127.0.0.1:{ev}",
                     "--replica-replay", f"tcp://127.0.0.1:{rp}"]
        router = Proc(args)
        procs.append(router)
        router.wait_up(rport)
        check(any("exact (KV events)" in line for line in router.out), "router not in exact mode")

        # Four tenants, each with a 3-page system prompt: the second request of each
        # must find the whole system prompt cached where the router sends it.
        systems = [[10 + (37 * t + 7 * i) % 290 for i in range(3 * PAGE)] for t in range(4)]
        for t, system in enumerate(systems):
            completion(rport, system + [100 + t, 101, 102])
        time.sleep(0.3)  # events reach the router within a few ms
        for t, system in enumerate(systems):
            r = completion(rport, system + [200 + t, 201, 202])
            cached = r["usage"]["prompt_tokens_details"]["cached_tokens"]
            check(cached >= 3 * PAGE, f"tenant {t}: {cached} cached tokens, want >= {3 * PAGE}")

        # Streams pass through as server-sent events.
        status, ctype, text = request(rport, "/v1/completions",
                                      {"prompt": systems[0] + [5], "max_tokens": 3, "stream": True})
        check(status == 200 and ctype.startswith("text/event-stream"), f"stream: {status} {ctype}")
        check(text.count("data: ") >= 2 and "data: [DONE]" in text, f"stream body: {text[:200]}")
        # Chat is routed too.
        status, _, text = request(rport, "/v1/chat/completions",
                                  {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        check(status == 200 and '"chat.completion"' in text, f"chat: {status} {text[:200]}")
        # Errors pass through with the replica's status and body.
        status, _, text = request(rport, "/v1/completions", {"prompt": "x", "max_tokens": -1})
        check(status == 400 and "max_tokens" in text, f"error pass-through: {status} {text}")
        status, _, text = request(rport, "/v1/embeddings", {"input": "hello there"})
        check(status == 200 and '"embedding"' in text, f"embeddings: {status} {text[:200]}")
        status, _, text = request(rport, "/v1/models")
        check(status == 200 and '"list"' in text, f"models: {status} {text}")
        status, _, text = request(rport, "/v1/nope", {})
        check(status == 404, f"unknown route: {status}")

        status, _, metrics = request(rport, "/metrics")
        check(status == 200, "metrics")
        routed = [metric(metrics, "radixlm_router_requests_total", u) for u in urls]
        check(sum(routed) == 13, f"routed {routed}, want 13 in all")
        check(all(x > 0 for x in routed), f"a replica got nothing: {routed}")
        check(all(metric(metrics, "radixlm_router_indexed_blocks", u) > 0 for u in urls),
              "the router learnt no blocks")
        print("routed per replica:", routed)

        # Draining replica 1 sends everything to replica 0 until it is undrained;
        # the admin key is required.
        check(admin(rport, "/router/drain", urls[1], "wrong")[0] == 401, "drain without the key")
        status, text = admin(rport, "/router/drain", urls[1], "adm")
        check(status == 200 and '"draining":true' in text, f"drain: {status} {text}")
        for t, system in enumerate(systems):
            completion(rport, system + [250 + t])
        _, _, metrics = request(rport, "/metrics")
        check(metric(metrics, "radixlm_router_requests_total", urls[1]) == routed[1],
              "a draining replica got requests")
        check(metric(metrics, "radixlm_router_replica_draining", urls[1]) == 1, "draining gauge")
        status, text = admin(rport, "/router/undrain", urls[1], "adm")
        check(status == 200 and '"draining":false' in text, f"undrain: {status} {text}")

        # A client that leaves a non-streamed request: the router closes the
        # upstream request and the replica aborts it (its pages go back).
        before = sum(aborted(r[0]) for r in replicas)
        t0 = time.time()
        leave_early(rport, {"prompt": [5, 6, 7], "max_tokens": 2000, "n": 16, "ignore_eos": True,
                            "temperature": 1, "seed": 1}, 0.5)
        while sum(aborted(r[0]) for r in replicas) == before and time.time() - t0 < 10:
            time.sleep(0.1)
        check(sum(aborted(r[0]) for r in replicas) == before + 1,
              "the replica did not abort the request its client left")
        print(f"left request aborted upstream after {time.time() - t0:.2f} s")
        _, _, text = request(rport, "/metrics")
        check(re.search(r"radixlm_router_cancelled_requests_total 1\b", text) is not None,
              "router's cancelled count")

        # Kill replica 0: every request still succeeds (retried on replica 1), and
        # the router forgets replica 0's blocks.
        replicas[0][3].stop(signal.SIGKILL)
        for t, system in enumerate(systems):
            r = completion(rport, system + [300 + t])
            check("choices" in r, "no answer after a replica died")
        time.sleep(0.5)
        _, _, metrics = request(rport, "/metrics")
        check(metric(metrics, "radixlm_router_replica_healthy", urls[0]) == 0, "dead replica healthy")
        check(metric(metrics, "radixlm_router_indexed_blocks", urls[0]) == 0,
              "dead replica's blocks not forgotten")
        router.stop()
        check(router.p.returncode == 0, "router exit code")

        # Approximate mode: no events; the router's own record gives affinity.
        aport = free_port()
        approx = Proc([radixlm, "route", "--model", model, "--page-size", str(PAGE), "--port",
                       str(aport), "--replica", urls[1]])
        procs.append(approx)
        approx.wait_up(aport)
        check(any("approximate" in line for line in approx.out), "not approximate")
        other = [20 + (11 * i) % 250 for i in range(3 * PAGE)]
        completion(aport, other + [1])
        r = completion(aport, other + [2])
        check(r["usage"]["prompt_tokens_details"]["cached_tokens"] >= 3 * PAGE, "approximate: no hit")
        approx.stop()

        # Auth passes through; with --tenant-keys the router hashes in the key's
        # namespace as the replica does, so its predicted cached tokens are the
        # replica's reported ones.
        kport, kev = free_port(), free_port()
        keyed = Proc([radixlm, "serve", "--model", model, "--port", str(kport), "--page-size",
                      str(PAGE), "--api-key", "k1", "--kv-events-endpoint", f"tcp://127.0.0.1:{kev}"])
        procs.append(keyed)
        keyed.wait_up(kport)
        tport = free_port()
        kurl = f"http://127.0.0.1:{kport}"
        trouter = Proc([radixlm, "route", "--model", model, "--page-size", str(PAGE), "--port",
                        str(tport), "--tenant-keys", "--replica", kurl, "--replica-events",
                        f"tcp://127.0.0.1:{kev}"])
        procs.append(trouter)
        trouter.wait_up(tport)
        body = {"prompt": other + [3], "max_tokens": 2, "temperature": 0}
        status, _, text = request(tport, "/v1/completions", body)
        check(status == 401, f"no key: {status} {text}")
        for i in range(2):
            status, _, text = request(tport, "/v1/completions", body, key="k1")
            check(status == 200, f"with key: {status} {text}")
            time.sleep(0.3)
        check(json.loads(text)["usage"]["prompt_tokens_details"]["cached_tokens"] >= 3 * PAGE,
              "keyed: no hit")
        _, _, metrics = request(tport, "/metrics")
        predicted = metric(metrics, "radixlm_router_predicted_cached_tokens_total", kurl)
        reported = metric(metrics, "radixlm_router_reported_cached_tokens_total", kurl)
        check(predicted >= 3 * PAGE and predicted == reported - reported % PAGE,
              f"keyed namespace: predicted {predicted}, reported {reported}")
        print("ok")
    finally:
        for p in reversed(procs):
            p.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as f:
        print("FAIL:", f)
        sys.exit(1)
