#!/usr/bin/env bash
# A fatal signal in radixlm prints the signal and the stack to stderr, then the
# process dies of that signal (exit status 128 + signal), as without a handler.
# Usage: crash_report.sh RADIXLM MODEL_DIR
set -uo pipefail
radixlm=$1 model=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$radixlm" serve --model "$model" --port 0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep -q "listening on" "$log" || { echo "FAIL: the server did not start"; cat "$log"; exit 1; }
kill -SEGV $pid
wait $pid
rc=$?
[ $rc = 139 ] || { echo "FAIL: exit status $rc, not 139 (SIGSEGV)"; cat "$log"; exit 1; }
grep -q "^radixlm: fatal signal SEGV at address 0x" "$log" || { echo "FAIL: no signal line"; cat "$log"; exit 1; }
frames=$(grep -c "radixlm(+0x" "$log")
[ "$frames" -ge 3 ] || { echo "FAIL: $frames stack frames of radixlm"; cat "$log"; exit 1; }
echo "crash report: signal line and $frames frames of radixlm"
