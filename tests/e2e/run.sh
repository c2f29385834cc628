#!/usr/bin/env bash
# End-to-end tests of `radixlm serve` (ctest cli_e2e_*): installs the pinned npm
# packages (the official OpenAI client) into the build tree once, then runs one
# node:test file against servers it starts itself.
# Usage: run.sh install <tests/e2e source dir> <work dir>
#        run.sh test <tests/e2e source dir> <work dir> <radixlm binary> <model dir> <test file>
# RADIXLM_TEST_DEVICE=cuda in the environment runs the servers with --device cuda
# (server.js); the default is cpu. NODE_MODULES names an installed node_modules
# folder to use instead of the work dir's (a bundle carried to another machine).
set -euo pipefail
mode=$1 src=$2 work=$3

tools=(node)
[ "$mode" = install ] && tools+=(npm)
for tool in "${tools[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: '$tool' not found; the e2e tests need Node.js 20+ and npm (scripts/setup.sh installs them)" >&2
    exit 1
  fi
done

npm_dir=$work/npm
if [ "$mode" = install ]; then
  mkdir -p "$npm_dir"
  # Reinstall only when the lock file changed or node_modules is incomplete.
  if ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" ||
     [ ! -f "$npm_dir/node_modules/.installed" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$npm_dir/node_modules/.installed"
  fi
  exit 0
fi

export RADIXLM=$4 RADIXLM_MODEL=$5
export NODE_PATH=${NODE_MODULES:-$npm_dir/node_modules}
if [ -n "${RADIXLM_TEST_DEVICE:-}" ]; then echo "run.sh: servers on --device $RADIXLM_TEST_DEVICE"; fi
exec node --test --test-reporter=spec "$src/$6"
