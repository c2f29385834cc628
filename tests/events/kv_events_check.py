#!/usr/bin/python3
"""An independent check of `radixlm serve --kv-events-endpoint`: decodes the events
with Debian's python3-zmq and python3-msgpack (no radixlm code), rebuilds the set of
cached blocks, and compares it with what the server reports in /v1/cache/stats.

Also checks docs/KV_EVENTS.md's hashing recipe (python3-xxhash): every block hash is
recomputed from its parent and tokens, and the prompts' own pages, hashed the way a
router would, are found in the rebuilt set.

Then the tiers below the device (`--host-cache` and `--disk-cache`): their
events (medium "CPU_TIER" for host memory, "DISK"; no tokens, no parent) rebuild
what each tier holds, compared with /v1/cache/stats' tier block counts; and a
server restarted over the same directory announces the blocks it found there.

Prompts are token ids laid out so that every cached sequence ends on a page
boundary (system pages + a user page + 1 token, then page_size output tokens with
ignore_eos: prompt + output - 1 tokens are computed and cached), so the comparison
with the server's counters is exact: cached_tokens == blocks * page_size.

Usage: kv_events_check.py RADIXLM MODEL_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import msgpack
import xxhash
import zmq

PAGE = 16
TIER_MEDIA = ("CPU_TIER", "DISK")  # the CPU backend's host tier, the directory
NS_SEED = 0x7261646978666E73  # docs/KV_EVENTS.md: NamespaceHash's seed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def le16(h):  # 128-bit int (xxhash intdigest: high << 64 | low) -> wire bytes
    return (h & ((1 << 64) - 1)).to_bytes(8, "little") + (h >> 64).to_bytes(8, "little")


def namespace_hash(name):
    return le16(xxhash.xxh3_128_intdigest(name.encode(), seed=NS_SEED))


def chain(parent, tokens):
    data = parent + b"".join(t.to_bytes(4, "little", signed=True) for t in tokens)
    return le16(xxhash.xxh3_128_intdigest(data))


def prompt_hashes(tokens, ns=""):
    out, h = [], namespace_hash(ns)
    for i in range(len(tokens) // PAGE):
        h = chain(h, tokens[i * PAGE:(i + 1) * PAGE])
        out.append(h)
    return out


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Rebuilder:
    """Applies batches in sequence order, fetching gaps through replay."""

    def __init__(self, ctx, endpoint, replay_endpoint):
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(endpoint)
        self.replay = ctx.socket(zmq.DEALER)
        self.replay.connect(replay_endpoint)
        self.blocks = {}  # the device pool's: hash -> (parent, tokens)
        self.tiers = {}  # a tier's medium -> set of hashes
        self.last_seq = -1
        self.replayed = 0
        self.events = {"BlockStored": 0, "BlockRemoved": 0, "AllBlocksCleared": 0}
        self.medium = set()

    def apply(self, payload):
        batch = msgpack.unpackb(payload, raw=False)
        check(isinstance(batch, list) and len(batch) in (2, 3), f"batch shape {batch!r:.80}")
        check(isinstance(batch[0], float), "ts is not a float")
        for ev in batch[1]:
            tag = ev[0]
            self.events[tag] += 1
            if tag == "BlockStored":
                check(len(ev) == 7, f"BlockStored has {len(ev)} fields")
                _, hashes, parent, tokens, block_size, lora_id, medium = ev
                check(block_size == PAGE, f"block_size {block_size}")
                check(lora_id is None, "lora_id")
                self.medium.add(medium)
                if medium in TIER_MEDIA:
                    check(parent is None and tokens == [], f"{medium} block with tokens or a parent")
                    held = self.tiers.setdefault(medium, set())
                    for h in hashes:
                        check(isinstance(h, bytes) and len(h) == 16, "hash is not 16 bytes")
                        check(h not in held, f"{medium}: block stored twice")
                        held.add(h)
                    continue
                check(len(tokens) == len(hashes) * PAGE, "token_ids length")
                prev = parent
                if parent is not None:
                    check(parent in self.blocks, "parent_block_hash not stored before")
                for i, h in enumerate(hashes):
                    check(isinstance(h, bytes) and len(h) == 16, "hash is not 16 bytes")
                    page = tokens[i * PAGE:(i + 1) * PAGE]
                    if prev is not None:  # the namespace of a first page is unknown here
                        check(chain(prev, page) == h, "hash does not chain as documented")
                    check(h not in self.blocks, "block stored twice")
                    self.blocks[h] = (prev, page)
                    prev = h
            elif tag == "BlockRemoved":
                check(len(ev) == 3, f"BlockRemoved has {len(ev)} fields")
                self.medium.add(ev[2])
                if ev[2] in TIER_MEDIA:
                    held = self.tiers.setdefault(ev[2], set())
                    for h in ev[1]:
                        check(h in held, f"{ev[2]}: removed a block never stored")
                        held.remove(h)
                    continue
                for h in ev[1]:
                    check(h in self.blocks, "removed a block never stored")
                    del self.blocks[h]
            elif tag == "AllBlocksCleared":
                self.blocks.clear()
                self.tiers.clear()
            else:
                raise Failure(f"unknown tag {tag}")

    def on_message(self, seq, payload):
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:  # missed some: replay them (REQ-style envelope)
            self.replay.send_multipart([b"", (self.last_seq + 1).to_bytes(8, "big")])
            while True:
                check(self.replay.poll(5000), "replay did not answer")
                frames = self.replay.recv_multipart()
                check(len(frames) == 3 and frames[0] == b"", f"replay frames {len(frames)}")
                rseq = int.from_bytes(frames[1], "big", signed=True)
                if rseq == -1:
                    check(frames[2] == b"", "end marker has a payload")
                    break
                if rseq == self.last_seq + 1 and rseq < seq:
                    self.apply(frames[2])
                    self.last_seq = rseq
                    self.replayed += 1
            check(self.last_seq == seq - 1, f"replay left a gap before {seq}")
        self.apply(payload)
        self.last_seq = seq

    def drain(self, quiet_s=0.6):
        """Reads until nothing arrives for quiet_s."""
        while self.sub.poll(int(quiet_s * 1000)):
            topic, seq, payload = self.sub.recv_multipart()
            check(topic == b"", "topic")
            check(len(seq) == 8, "sequence frame is not 8 bytes")
            self.on_message(int.from_bytes(seq, "big"), payload)


def http(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise Failure(f"{path}: HTTP {e.code}: {e.read().decode()}")


def start(radixlm, model, extra):
    """A server with KV events on free ports: (process, port, endpoint, replay, output)."""
    port, ev_port, replay_port = free_port(), free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{ev_port}"
    replay_endpoint = f"tcp://127.0.0.1:{replay_port}"
    server = subprocess.Popen(
        [radixlm, "serve", "--model", model, "--host", "127.0.0.1", "--port", str(port),
         "--page-size", str(PAGE), "--kv-pages", "24", "--kv-events-endpoint", endpoint,
         "--kv-events-replay-endpoint", replay_endpoint, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    threading.Thread(target=lambda: output.extend(server.stdout), daemon=True).start()
    deadline = time.time() + 60
    while True:
        try:
            http(port, "/health")
            return server, port, endpoint, replay_endpoint, output
        except Exception:
            check(server.poll() is None, "server exited: " + "".join(output))
            check(time.time() < deadline, "server did not come up")
            time.sleep(0.1)


def stop(server):
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def replay_all(ctx, endpoint, replay_endpoint):
    """A subscriber that rebuilds everything through replay from batch 0."""
    late = Rebuilder(ctx, endpoint, replay_endpoint)
    late.replay.send_multipart([b"", (0).to_bytes(8, "big")])
    while True:
        check(late.replay.poll(5000), "replay did not answer")
        _, rseq, payload = late.replay.recv_multipart()
        rseq = int.from_bytes(rseq, "big", signed=True)
        if rseq == -1:
            return late
        late.apply(payload)
        late.last_seq = rseq


def tiers(radixlm, model, ctx):
    """The host tier and the directory under a 24-page pool: per-medium sets
    against /v1/cache/stats, then a restart that announces the directory."""
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)
    # One page of every layer's K and V, F32 on the CPU backend.
    block_bytes = (config["num_hidden_layers"] * 2 * config["num_key_value_heads"] * PAGE *
                   config["head_dim"] * 4)
    host_blocks = 40
    work = tempfile.mkdtemp(prefix="radixlm-kvevents-")
    disk = os.path.join(work, "disk")
    flags = ["--host-cache", str(host_blocks * block_bytes), "--disk-cache", disk]
    server, port, endpoint, replay_endpoint, output = start(radixlm, model, flags)
    try:
        sub = Rebuilder(ctx, endpoint, replay_endpoint)
        time.sleep(0.3)  # let SUB connect
        # 16 prompts of 5 own full pages (80 blocks): more than the host tier holds.
        prompts = [[10 + (41 * p + 7 * i) % 290 for i in range(5 * PAGE)] + [7] for p in range(16)]
        for p in prompts:
            r = http(port, "/v1/completions", {"prompt": p, "max_tokens": PAGE, "temperature": 0,
                                               "ignore_eos": True})
            check(r["usage"]["completion_tokens"] == PAGE, "completion length")
        # The directory's writer stores blocks in the background: wait until
        # the events and the server agree (they must within seconds).
        deadline = time.time() + 10
        while True:
            sub.drain()
            stats = http(port, "/v1/cache/stats")
            # Each prompt's 5 pages and the page its output completes.
            if (len(sub.tiers.get("DISK", ())) == stats["tiers"]["disk"]["blocks"] == 6 * len(prompts)
                    or time.time() > deadline):
                break
            time.sleep(0.2)
        check(stats["tiers"]["host"]["block_bytes"] == block_bytes,
              f"block bytes {stats['tiers']['host']['block_bytes']} != {block_bytes}")
        host = sub.tiers.get("CPU_TIER", set())
        disk_held = sub.tiers.get("DISK", set())
        print(f"tiers: events say host {len(host)}, disk {len(disk_held)} blocks; server: host "
              f"{stats['tiers']['host']['blocks']}, disk {stats['tiers']['disk']['blocks']}")
        check(len(host) == stats["tiers"]["host"]["blocks"], "host tier: events and stats differ")
        check(len(host) == host_blocks, f"the host tier should be full ({host_blocks})")
        check(len(disk_held) == stats["tiers"]["disk"]["blocks"], "disk: events and stats differ")
        check(stats["tiers"]["host"]["evicted_blocks"] > 0, "the host tier evicted nothing")
        pages = stats["pages"]["cached"] + stats["pages"]["locked"]
        check(len(sub.blocks) == pages, f"device: events {len(sub.blocks)}, server {pages}")
        # Every page of every prompt, hashed as a router would, went to disk.
        for p in prompts:
            for h in prompt_hashes(p):
                check(h in disk_held, "a prompt's page is not among the DISK blocks")
        check(sub.medium == {"CPU", "CPU_TIER", "DISK"}, f"media {sub.medium}")
        # A namespace flush empties the host tier (it is keyed by hash alone).
        http(port, "/v1/cache/flush", {"cache_salt": "nobody"})
        sub.drain()
        check(len(sub.tiers.get("CPU_TIER", set())) == 0, "host blocks left after a flush")
        check(http(port, "/v1/cache/stats")["tiers"]["host"]["blocks"] == 0, "host not flushed")
        stop(server)
        on_disk = sum(1 for _, _, fs in os.walk(disk) for f in fs if f.endswith(".kv"))
        check(on_disk == len(disk_held), f"{on_disk} block files, events said {len(disk_held)}")

        # Restarted over the same directory: the blocks found are announced.
        server, port, endpoint, replay_endpoint, output = start(radixlm, model, flags)
        late = replay_all(ctx, endpoint, replay_endpoint)
        check(late.tiers.get("DISK", set()) == disk_held,
              f"after a restart: {len(late.tiers.get('DISK', set()))} DISK blocks announced, "
              f"{len(disk_held)} held")
        print(f"tiers ok: {host_blocks} host blocks, {len(disk_held)} disk blocks, "
              f"{len(disk_held)} announced after a restart")
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


def main():
    radixlm, model = sys.argv[1], sys.argv[2]
    port, ev_port, replay_port = free_port(), free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{ev_port}"
    replay_endpoint = f"tcp://127.0.0.1:{replay_port}"
    server = subprocess.Popen(
        [radixlm, "serve", "--model", model, "--host", "127.0.0.1", "--port", str(port),
         "--page-size", str(PAGE), "--kv-pages", "24", "--kv-events-endpoint", endpoint,
         "--kv-events-replay-endpoint", replay_endpoint],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    ctx = zmq.Context()
    try:
        deadline = time.time() + 60
        while True:
            try:
                http(port, "/health")
                break
            except Exception:
                check(server.poll() is None, "server exited: " + "".join(output))
                check(time.time() < deadline, "server did not come up")
                time.sleep(0.1)

        # Token ids below the tiny model's vocabulary (320).
        systems = [[10 + (37 * s + 7 * i) % 290 for i in range(3 * PAGE)] for s in range(4)]
        prompts = []
        for u in range(3):
            for s, system in enumerate(systems):
                prompts.append(system + [(200 + 13 * s + 29 * u + 3 * i) % 300 for i in range(PAGE)] + [7])

        def send(prompt, salt=None):
            body = {"prompt": prompt, "max_tokens": PAGE, "temperature": 0, "ignore_eos": True}
            if salt:
                body["cache_salt"] = salt
            r = http(port, "/v1/completions", body)
            check(r["usage"]["completion_tokens"] == PAGE, "completion length")

        # Events of the first requests are published before anyone listens: the
        # subscriber must fetch them through replay.
        for p in prompts[:4]:
            send(p)
        time.sleep(0.2)
        sub = Rebuilder(ctx, endpoint, replay_endpoint)
        time.sleep(0.3)  # let SUB connect (ZeroMQ's slow joiner)
        for p in prompts[4:]:
            send(p)
        send(prompts[-1], salt="tenant-salt")
        sub.drain()
        check(sub.replayed > 0, "the first batches were not replayed")
        check(sub.events["BlockRemoved"] > 0, "no evictions: the pool should have been too small")
        check(sub.medium == {"CPU"}, f"medium {sub.medium}")

        def compare(label):
            stats = http(port, "/v1/cache/stats")
            cached_tokens = stats["cache"]["cached_tokens"]
            pages = stats["pages"]["cached"] + stats["pages"]["locked"]
            blocks = len(sub.blocks)
            print(f"{label}: {blocks} blocks from events; server: {cached_tokens} cached tokens, "
                  f"{pages} cached pages")
            check(cached_tokens == blocks * PAGE,
                  f"{label}: server caches {cached_tokens} tokens, events say {blocks} blocks")
            check(pages == blocks, f"{label}: server holds {pages} pages, events say {blocks}")

        compare("after requests")
        # The last prompt's pages, hashed as a router would, are all cached.
        for h in prompt_hashes(prompts[-1]):
            check(h in sub.blocks, "a router's hash of the last prompt is not among the blocks")
        # A subscriber restarted now resyncs everything through replay from 0.
        late = Rebuilder(ctx, endpoint, replay_endpoint)
        late.replay.send_multipart([b"", (0).to_bytes(8, "big")])
        while True:
            check(late.replay.poll(5000), "replay did not answer")
            _, rseq, payload = late.replay.recv_multipart()
            rseq = int.from_bytes(rseq, "big", signed=True)
            if rseq == -1:
                break
            late.apply(payload)
            late.last_seq = rseq
        check(late.last_seq == sub.last_seq, "replay from 0 did not reach the last batch")
        check(late.blocks == sub.blocks, "a late subscriber rebuilt a different set")

        # Flushing a salted namespace removes its pages; flushing everything clears.
        salted_before = len(sub.blocks)
        http(port, "/v1/cache/flush", {"cache_salt": "tenant-salt"})
        sub.drain()
        check(len(sub.blocks) < salted_before, "flushing the salted namespace removed nothing")
        compare("after flushing one namespace")
        http(port, "/v1/cache/flush", {})
        sub.drain()
        check(sub.events["AllBlocksCleared"] == 1, "no AllBlocksCleared after a full flush")
        compare("after flushing everything")
        check(len(sub.blocks) == 0, "blocks left after a full flush")
        print(f"ok: {sum(sub.events.values())} events in {sub.last_seq + 1} batches "
              f"({sub.replayed} through replay): {sub.events}")
        tiers(radixlm, model, ctx)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        ctx.destroy(linger=0)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as f:
        print("FAIL:", f)
        sys.exit(1)
