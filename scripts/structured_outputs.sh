#!/usr/bin/env bash
# The structured-output check at full size: COUNT (default 1000) random nested
# JSON schemas sent to `radixlm serve` (a random-weight tiny Llama) with the
# official OpenAI client, every output validated with ajv
# (tests/e2e/structured_output.test.js; CI runs 100 of them as
# cli_e2e_structured_output). Needs a build with the radixlm binary, Node.js 20+ and npm.
# Usage: scripts/structured_outputs.sh [BUILD_DIR] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
count=${2:-1000}
work=$build/tests/e2e
mkdir -p "$work"
tests/e2e/run.sh install tests/e2e "$work"
[ -d "$work/tiny-llama" ] ||
  "$build/src/tools/radixlm" make-model --arch llama --preset tiny --seed 5 --out "$work/tiny-llama" >/dev/null
RADIXLM_SCHEMA_COUNT=$count exec tests/e2e/run.sh test tests/e2e "$work" "$build/src/tools/radixlm" \
  "$work/tiny-llama" structured_output.test.js
