# Sourced by gpu_check.sh and bench_gpu_serve.sh on the GPU machine.
#
# prepare_run OUT WORK: makes OUT, empties WORK (with WORK/logs, set as
# `logs`) and starts OUT/summary.txt (`summary`), which note() appends to.
prepare_run() {
  mkdir -p "$1"
  rm -rf "$2"
  mkdir -p "$2/logs"
  logs=$2/logs
  summary=$1/summary.txt
  : >"$summary"
}
note() { echo "$*" | tee -a "$summary"; }

# unpack_bundle BUNDLE_DIR WORK unpacks scripts/gpu_bundle.sh's archive into
# WORK and sets b (the bundle's root) and cuda_libs (where this machine keeps
# CUDA's libraries: /usr/local/cuda's, else wherever they are, the pip wheels
# under PyTorch's environment say), exported as RADIXLM_CUDA_LIBS for the
# bundle's wrappers. Returns 1, with a message, when the archive is missing.
unpack_bundle() {
  local archive=$1/radixlm-gpu.tar.xz work=$2
  if [ ! -f "$archive" ]; then
    echo "FAIL: $archive not found (run scripts/gpu_bundle.sh here first and carry $1)"
    return 1
  fi
  if command -v xz >/dev/null; then
    tar -C "$work" -xJf "$archive"
  else
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$archive" "$work"
  fi
  b=$work/radixlm-gpu
  cuda_libs=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib
  local lib d found
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
    found=""
    for d in ${cuda_libs//:/ }; do [ -e "$d/$lib" ] && found=$d; done
    if [ -z "$found" ]; then
      found=$(find /usr/local /opt /usr/lib/x86_64-linux-gnu -name "$lib" 2>/dev/null | head -1)
      [ -n "$found" ] && cuda_libs=$cuda_libs:$(dirname "$found")
    fi
  done
  export RADIXLM_CUDA_LIBS=$cuda_libs
}
