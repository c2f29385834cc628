# Sourced by demo.sh and bench_serve.sh: start radixlm servers on free ports of
# 127.0.0.1 and stop them (SIGTERM) when the script exits. Needs $bin and $model.
pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT

# start_server VAR LOG NAME [serve flags...]: sets VAR to the port once it listens
# (not run in a subshell, so the server's pid stays known to stop_servers).
start_server() {
  local var=$1 log=$2 name=$3; shift 3
  "$bin" serve --model "$model" --host 127.0.0.1 --port 0 --served-model-name "$name" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if grep -q "listening on" "$log"; then
      printf -v "$var" '%s' "$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -n1)"
      return
    fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "the server did not start:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "the server did not start within a minute" >&2; exit 1
}
