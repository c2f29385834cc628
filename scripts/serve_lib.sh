# Sourced by demo.sh and bench_serve.sh: start radixlm servers on free ports of
# 127.0.0.1 and stop them (SIGTERM) when the script exits. Needs $bin and $model.
pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT

# start_server LOG NAME [serve flags...]: prints the port once it listens.
start_server() {
  local log=$1 name=$2; shift 2
  "$bin" serve --model "$model" --host 127.0.0.1 --port 0 --served-model-name "$name" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if grep -q "listening on" "$log"; then
      sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -n1
      return
    fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "the server did not start:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "the server did not start within a minute" >&2; exit 1
}
