#!/usr/bin/env bash
# The benchmark tools' own failure handling, against a real `kmsd --dev`:
#   1. a decrypt round that runs out of authorization tokens is repeated with
#      more, not failed (the smoke run failed on machines faster than the
#      first guess);
#   2. `kmsd-bench preload` refuses a store whose daemon is running;
#   3. recording_bench rejects a bad flag value with exit 2 (it aborted);
#   4. bench/run.sh refuses bad settings with exit 2 before it does anything;
#   5. an interrupted kmsd-bench http leaves its --contexts-out file alone.
# Usage: bench/tools_test.sh BUILD_DIR
set -euo pipefail
BIN=$(cd "$1" && pwd)  # run.sh reads a relative BUILD_DIR from the repo root
RUN=$(dirname "$0")/run.sh
KMSD=$BIN/daemon/kmsd
BENCH=$BIN/bench/load/kmsd-bench
WORK=$(mktemp -d /var/tmp/kmsd-bench-tools.XXXXXX)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PORT=$((20000 + RANDOM % 12000))
"$KMSD" --dev --data-dir "$WORK/dev" --listen "127.0.0.1:$PORT" >"$WORK/kmsd.log" 2>&1 &
PID=$!
for _ in $(seq 1 3000); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/kmsd.log" >&2; fail "kmsd exited"; }
  sleep 0.01
done

"$BENCH" http --port "$PORT" --dev-dir "$WORK/dev" --ops generate --conns 2 --warmup 0 \
  --duration 1 --contexts-out "$WORK/contexts.txt" >/dev/null
# A rate hint of 1/s mints 1,004 tokens for 2 s: any machine runs dry at once.
if ! "$BENCH" http --port "$PORT" --dev-dir "$WORK/dev" --ops decrypt --conns 4 --warmup 1 \
  --duration 1 --rate-hint 1 --contexts-in "$WORK/contexts.txt" >"$WORK/decrypt.txt" \
  2>"$WORK/decrypt.err"; then
  cat "$WORK/decrypt.err" >&2
  fail "a decrypt round that ran out of tokens failed instead of being repeated"
fi
grep -q "used all 1004 authorization tokens" "$WORK/decrypt.err" ||
  fail "no note that the round was repeated: $(cat "$WORK/decrypt.err")"
[[ $(grep -c '^decrypt conns=4 .* errors=0 ' "$WORK/decrypt.txt") == 1 ]] ||
  fail "expected one decrypt line without errors: $(cat "$WORK/decrypt.txt")"

# An interrupted round leaves its contexts file, here also its input, as it
# was (it was truncated before the rounds).
cp "$WORK/contexts.txt" "$WORK/same.txt"
timeout -s TERM 1 "$BENCH" http --port "$PORT" --dev-dir "$WORK/dev" --ops generate --conns 1 \
  --warmup 0 --duration 5 --contexts-in "$WORK/same.txt" --contexts-out "$WORK/same.txt" \
  >/dev/null 2>&1 || true
cmp -s "$WORK/contexts.txt" "$WORK/same.txt" || fail "an interrupted run changed its contexts file"

if "$BENCH" preload --dev-dir "$WORK/dev" --records 10 2>"$WORK/preload.err"; then
  fail "preload filled the store of a running daemon"
fi
grep -q "stop the daemon first" "$WORK/preload.err" ||
  fail "preload did not say why: $(cat "$WORK/preload.err")"

set +e
"$BIN/bench/recording/recording_bench" --workers abc >/dev/null 2>"$WORK/recording.err"
rc=$?
set -e
[[ $rc == 2 ]] || fail "recording_bench --workers abc exited $rc, not 2"
# Its files (on tmpfs in run.sh) are removed when it is done.
mkdir "$WORK/rec"
"$BIN/bench/recording/recording_bench" --dir "$WORK/rec" --size-mib 1 --runs 1 --workers 0 >/dev/null
[[ -z "$(ls -A "$WORK/rec")" ]] || fail "recording_bench left $(ls "$WORK/rec") behind"

# A --daemon-pid naming no process left the CPU column silently empty.
set +e
"$BENCH" http --port "$PORT" --dev-dir "$WORK/dev" --ops generate --conns 1 --warmup 0 \
  --duration 1 --daemon-pid 2147483646 >/dev/null 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || fail "kmsd-bench http --daemon-pid of no process exited $rc, not 2"

# Each of these once started a run, or failed only after measuring.
refused() { # refused DESCRIPTION REASON ENV... : run.sh --smoke must exit 2 at once, saying REASON
  local what=$1 reason=$2 rc
  shift 2
  set +e
  env KMSD_SKIP_DEPS=1 KMSD_SKIP_BUILD=1 BUILD_DIR="$BIN" OUT="$WORK/out" "$@" \
    timeout 20 "$RUN" --smoke >/dev/null 2>"$WORK/run.err"
  rc=$?
  set -e
  [[ $rc == 2 ]] || fail "run.sh with $what exited $rc, not 2: $(cat "$WORK/run.err")"
  grep -q -- "$reason" "$WORK/run.err" || fail "run.sh with $what: not '$reason' but $(cat "$WORK/run.err")"
}
refused "CONNS=1,1" "must not repeat" CONNS=1,1
refused "CONNS=1025" "over 1024" CONNS=1025
refused "an empty CONNS" "CONNS is set but empty" CONNS=
refused "an empty OUT" "OUT is set but empty" OUT=
refused "SCALE below 10000" "at least 10000" SCALE="100 200"
refused "a shrinking SCALE" "must grow" SCALE="40000 20000"
refused "WORK a file" "WORK=/dev/null is not a writable folder" WORK=/dev/null
refused "OUT under a file" "OUT=/dev/null/x is not a writable folder" OUT=/dev/null/x
refused "a missing BUILD_DIR" "is not built" BUILD_DIR="$WORK/no-build"
set +e
KMSD_SKIP_DEPS=1 "$RUN" --bogus >/dev/null 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || fail "run.sh --bogus exited $rc, not 2"
[[ ! -e "$WORK/out" ]] || fail "a refused run left OUT behind"
echo "bench tools: ok"
