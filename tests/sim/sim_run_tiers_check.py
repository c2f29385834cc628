#!/usr/bin/env python3
"""`radixlm sim run` with KV tiers below the device, end to end: runs the command
on a generated workload and checks its JSON.

Usage: sim_run_tiers_check.py RADIXLM WORK_DIR
"""
import json
import os
import subprocess
import sys

radixlm, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED:", what)


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def run(name, extra):
    out = os.path.join(work, name + ".json")
    html = os.path.join(work, name + ".html")
    svg = os.path.join(work, name + ".svg")
    cmd = [radixlm, "sim", "run", "--workload", "generated-shared-prefix", "--requests", "256",
           "--rate", "0.5", "--policies", "lru", "--capacity-tokens", "3200",
           "--model", "32:8:128:bf16", "--json", out, "--html", html, "--plot", svg] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    with open(out) as f:
        doc = json.load(f)
    with open(html) as f:
        page = f.read()
    with open(svg) as f:
        chart = f.read()
    return doc, p.stdout, page, chart


# A device holding one 2,048-token system prompt; a host holding all of them
# (1M tokens); a disk of 4 GiB (32,768 tokens of 128 KiB).
doc, stdout, page, chart = run("nvme", ["--host-capacity", "0,1M", "--disk-capacity", "0,4GiB"])
page_bytes = 16 * 131072
check(doc["kv_bytes_per_token"] == 131072, "KV bytes per token from --model")
check(close(doc["links"]["host"]["bandwidth_gbs"], 50), "host link default 50 GB/s")
check(close(doc["links"]["disk"]["bandwidth_gbs"], 5), "disk link default (nvme) 5 GB/s")
check(close(doc["links"]["disk"]["latency_us"], 100), "disk latency default (nvme) 100 us")
check("host hit" in stdout and "disk hit" in stdout, "the table has the tier columns")
check("with tiers" in chart and "from the device" in chart, "the SVG draws the tiered runs")
check("Tiers below the device" in page and "host hit" in page, "the HTML describes the tiers")

runs = {(r["policy"], r["host_capacity_tokens"], r["disk_capacity_tokens"]): r
        for r in doc["runs"]}
check(len(runs) == 8, "oracle and lru, each with host {0, 1M} x disk {0, 4GiB}: %d runs" % len(runs))
infinite = doc["infinite_token_hit_rate"]
alone = runs[("lru", 0, 0)]
host = runs[("lru", 1000000, 0)]
disk = runs[("lru", 0, 32768)]
both = runs[("lru", 1000000, 32768)]

check(alone["tiers"] == [], "no tiers, no tier figures")
check(alone["requests_loaded"] == 0, "no tiers, no loads")
check(close(alone["device_hit_rate"], alone["token_hit_rate"]), "device-only: every hit on the device")
check(alone["token_hit_rate"] < infinite / 2, "a device this small misses most shared prompts")

for r, names in ((host, ["host"]), (disk, ["disk"]), (both, ["host", "disk"])):
    label = "host %d disk %d: " % (r["host_capacity_tokens"], r["disk_capacity_tokens"])
    check([t["name"] for t in r["tiers"]] == names, label + "tiers " + str(names))
    total = r["device_hit_rate"] + sum(t["hit_rate"] for t in r["tiers"])
    check(close(total, r["token_hit_rate"]), label + "hits by level add up to the hit rate")
    check(r["token_hit_rate"] > alone["token_hit_rate"], label + "the tiers add hits")
    check(r["requests_loaded"] > 0 and r["load_wait_ms"]["p50"] > 0, label + "loads wait")
    check(r["evicted_pages_lost"] == 0, label + "device evictions are kept below")
    for t in r["tiers"]:
        check(t["pages_loaded"] * page_bytes == t["bytes_loaded"], label + t["name"] + " bytes loaded")
        check(t["pages_written"] * page_bytes == t["bytes_written"], label + t["name"] + " bytes written")
        check(t["peak_tokens"] <= t["capacity_tokens"], label + t["name"] + " within capacity")
        check(t["admission"] == "all", label + "admission all by default")

# One request at a time with everything kept below: the infinite-cache bound,
# and the first token sooner than recomputing (2,048 tokens load in ~5 ms).
check(close(host["token_hit_rate"], infinite), "host 1M reaches the infinite-cache bound")
check(host["tiers"][0]["hit_rate"] > host["device_hit_rate"], "most hits from the host")
check(host["ttft_ms"]["p50"] < alone["ttft_ms"]["p50"], "loading beats recomputing")
check(host["tiers"][0]["pages_written"] > 0, "write-through to the host")
check(both["tiers"][0]["blocks_dropped"] == 0, "the host's evictions all reach the disk")
check(disk["tiers"][0]["capacity_tokens"] == 32768, "4GiB of 128 KiB tokens is 32,768")

# Redis as the disk tier, second-hit admission, a host sized in MiB.
redis = ["--host-capacity", "64MiB", "--disk-capacity", "1M", "--disk-kind", "redis",
         "--disk-admission", "second-hit"]
doc, _, _, _ = run("redis", redis)
check(close(doc["links"]["disk"]["bandwidth_gbs"], 1.2), "redis link 1.2 GB/s")
check(close(doc["links"]["disk"]["latency_us"], 300), "redis latency 300 us")
check(doc["tier_loads"] == "when-faster", "loads only when faster by default")
r = [x for x in doc["runs"] if x["policy"] == "lru"][0]
check(r["host_capacity_tokens"] == 512, "64MiB of 128 KiB tokens is 512")
check(r["tiers"][1]["admission"] == "second-hit", "disk admission second-hit")
check(r["tiers"][1]["blocks_refused"] > 0, "second-hit turns blocks used once away")
# One request at a time, the GPU idle: 1.2 GB/s loses to recomputing.
check(r["tiers"][1]["hit_rate"] == 0, "nothing loaded from a tier slower than the GPU")
doc, _, _, _ = run("redis_always", redis + ["--tier-loads", "always"])
r = [x for x in doc["runs"] if x["policy"] == "lru"][0]
check(r["tiers"][1]["hit_rate"] > 0, "told to, the disk serves the blocks used twice")

if failures:
    sys.exit("%d checks failed" % len(failures))
print("sim run tiers: all checks passed")
