#!/usr/bin/env bash
# One command on a fresh machine: install, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DRADIXLM_TESTS=OFF -- radixlm
./build/src/tools/radixlm demo "$@"
