#!/usr/bin/env bash
# Installs every Debian package radixlm needs to build and test. Idempotent: only
# missing packages are installed, and apt's lists are refreshed only then. Runs as
# root, or through sudo otherwise. Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libxxhash-dev        # xxh3 hashing (block hashes, hash tables)
  libcli11-dev         # command-line parsing (src/tools/main.cc only)
  libsimdjson-dev      # trace parsing (src/sim/trace_parse.cc only)
  libgtest-dev libgmock-dev
  libbenchmark-dev     # bench/ micro-benchmarks (RADIXLM_BENCH)
  clang libclang-rt-14-dev  # libFuzzer and sanitizer runtimes for the fuzz targets
  clang-format         # scripts/check_format.sh (CI checks the C++ sources' format)
  libopenblas-dev      # bench-engine's SGEMM roofline (src/tools/bench_engine.cc only; the forward pass has its own kernels)
  libpcre2-dev         # tokenizer pre-tokenizer patterns (Unicode properties, JIT)
  libutf8proc-dev      # Unicode normalization and case mapping: tokenizer normalizers, template string methods (src/core/unicode.cc only)
  libboost1.74-dev     # Beast and Asio, header-only: the HTTP server (src/server/http_server.cc) and bench http
  libcurl4-openssl-dev # the HTTP client (src/net/http_client.cc only)
  libssl-dev           # SHA-256 of API keys (src/server/auth.cc only)
  python3-jinja2       # reference renderer for the chat-template tests (tests/template)
  libhiredis-dev       # the Redis client of the response cache and KV tiers (src/store/redis_store.cc only)
  redis-server         # the response-cache and KV-tier tests start a real Redis on 127.0.0.1
  libhnswlib-dev       # semantic response cache's vector index (src/respcache/semantic_index.cc only)
  chromium-headless-shell  # the dashboard's test in a real browser (tests/dashboard)
  libzmq3-dev          # KV events over ZeroMQ (src/events/kv_event_publisher.cc only)
  libmsgpack-cxx-dev   # KV events' msgpack encoding (src/events/kv_event_codec.cc only)
  python3-zmq python3-msgpack python3-xxhash  # the independent KV-event check (tests/events/kv_events_check.py)
)
# Node.js runs the tokenizer comparison against the JavaScript implementation of
# Hugging Face's tokenizers (packages from npm, installed by the test itself).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
