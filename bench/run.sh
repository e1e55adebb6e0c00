#!/usr/bin/env bash
# The benchmark report of issue 10, in one run: the raw token ceiling, the
# same operations through a `kmsd --dev` daemon (real SoftHSM2, SQLite with
# fsync, audit on), ratios, scale with a preloaded store, policy evaluation
# and file encryption. Prints the report and writes it with its data and two
# PNG plots (gnuplot) to OUT (default docs/benchmarks/, which docs/benchmarks.md shows).
#
#   bench/run.sh            full run (about 12 minutes on 2 cores, ~3 GB disk at 10^7 records)
#   bench/run.sh --smoke    a few seconds per part: CI keeps the pieces working
#
# Env: BUILD_DIR (default build-bench, Release), OUT, WORK (scratch, default a
# temp dir removed at exit), KMSD_SKIP_DEPS=1 to skip apt, SCALE="10000 1000000 10000000",
# SCALE_ROUNDS (decrypt rounds per scale size, best reported; 3, smoke 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
if ((SMOKE)); then
  CONNS=${CONNS:-1,4}; WARMUP=0; DURATION=1; SCALE=${SCALE:-"1000 3000"}
  SCALE_DURATION=1; SCALE_ROUNDS=${SCALE_ROUNDS:-1}; POLICY_MIN_TIME=0.05; RECORDING_MIB=8; RECORDING_RUNS=1
else
  CONNS=${CONNS:-1,8,32,128}; WARMUP=2; DURATION=10; SCALE=${SCALE:-"10000 1000000 10000000"}
  SCALE_DURATION=10; SCALE_ROUNDS=${SCALE_ROUNDS:-3}; POLICY_MIN_TIME=1; RECORDING_MIB=256; RECORDING_RUNS=3
fi
if ! [[ "$SCALE_ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: SCALE_ROUNDS must be a positive integer, not '$SCALE_ROUNDS'" >&2
  exit 2
fi
BUILD_DIR=${BUILD_DIR:-build-bench}
OUT=${OUT:-$ROOT/docs/benchmarks}
mkdir -p "$OUT"
if [[ -z "${WORK:-}" ]]; then
  WORK=$(mktemp -d /var/tmp/kmsd-bench.XXXXXX)
  trap 'stop_daemon; rm -rf "$WORK"' EXIT
else
  mkdir -p "$WORK"
  trap 'stop_daemon' EXIT
fi

if [[ "${KMSD_SKIP_DEPS:-0}" != 1 ]]; then scripts/install-deps.sh; fi
if [[ "${KMSD_SKIP_BUILD:-0}" != 1 ]]; then
  BUILD_DIR=$BUILD_DIR BUILD_TYPE=Release scripts/build.sh -DKMSD_BUILD_TESTS=OFF
fi
BIN=$ROOT/$BUILD_DIR
[[ "$BUILD_DIR" = /* ]] && BIN=$BUILD_DIR
KMSD=$BIN/daemon/kmsd
BENCH=$BIN/bench/load/kmsd-bench

DAEMON_PID=""
PORT=""
stop_daemon() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=""
}
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))  # below the ephemeral range
    (: >/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "$port"; return; }
  done
}
# Starts kmsd --dev on DIR; sets DAEMON_PID, PORT and STARTUP_MS (exec to /readyz 200).
start_daemon() {
  local dir=$1 log=$2
  PORT=$(free_port)
  local t0
  t0=$(date +%s%N)
  "$KMSD" --dev --data-dir "$dir" --listen "127.0.0.1:$PORT" >>"$log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 30000); do
    if curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz"; then
      STARTUP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
      return 0
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || { echo "kmsd exited; see $log" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 0.005
  done
  echo "kmsd not ready after 150 s; see $log" >&2
  exit 1
}
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
field() { # field NAME LINE...
  local name=$1; shift
  sed -n "s/.* $name=\([^ ]*\).*/\1/p" <<<"$*"
}

# Raw token and daemon rounds alternate, one connection count at a time, so
# that each ratio compares figures taken seconds apart: this machine's speed
# drifts by up to a third over the minutes a full pass of either would take.
echo "== raw token, then through kmsd --dev, at $CONNS threads/connections, ${DURATION}s each"
: >"$OUT/raw.txt"
: >"$OUT/http.txt"
: >"$OUT/http-errors.txt"
start_daemon "$WORK/dev" "$WORK/kmsd.log"
for conns in ${CONNS//,/ }; do
  "$BENCH" raw --dir "$WORK/raw" --conns "$conns" --warmup "$WARMUP" --duration "$DURATION" \
    2>>"$WORK/raw.log" | tee -a "$OUT/raw.txt"
  "$BENCH" http --port "$PORT" --dev-dir "$WORK/dev" --daemon-pid "$DAEMON_PID" --conns "$conns" \
    --warmup "$WARMUP" --duration "$DURATION" 2> >(tee -a "$OUT/http-errors.txt" >&2) |
    tee -a "$OUT/http.txt"
done
DAEMON_RSS=$(rss_mib "$DAEMON_PID")
stop_daemon

echo "== scale: decrypt with $SCALE records in the store"
: >"$OUT/scale.txt"
: >"$OUT/scale-rounds.txt"
start_daemon "$WORK/scale" "$WORK/scale.log"
"$BENCH" http --port "$PORT" --dev-dir "$WORK/scale" --ops generate --conns 8 --warmup 0 \
  --duration 2 --contexts-out "$WORK/contexts.txt" >/dev/null
stop_daemon
# Decrypt tokens for the scale rounds: twice the rate the 32-connection round managed.
RATE_HINT=$(field ops_s "$(grep '^decrypt conns=32 ' "$OUT/http.txt" || true)")
for records in $SCALE; do
  loaded=$("$BENCH" preload --db "$WORK/scale/kmsd.db" --records "$records")
  echo "$loaded"
  records=$(field records "$loaded")  # what the store holds, which may exceed the request
  AUDIT_MIB=$(du -sm "$WORK/scale/audit" | cut -f1)  # history read after start-up, not before
  start_daemon "$WORK/scale" "$WORK/scale.log"
  # Best of SCALE_ROUNDS rounds: this machine's speed drifts by a third from
  # minute to minute, more than the 15 % the target allows between sizes.
  # Every round is kept in scale-rounds.txt, and errors in any fail the run.
  best="" best_rate=-1
  for round in $(seq 1 "$SCALE_ROUNDS"); do
    line=$("$BENCH" http --port "$PORT" --dev-dir "$WORK/scale" --daemon-pid "$DAEMON_PID" \
      --rate-hint "${RATE_HINT:-0}" --ops decrypt --conns 32 \
      --warmup "$WARMUP" --duration "$SCALE_DURATION" --contexts-in "$WORK/contexts.txt" \
      2> >(tee -a "$OUT/http-errors.txt" >&2))
    echo "records=$records round=$round $line" >>"$OUT/scale-rounds.txt"
    rate=$(field ops_s "$line")
    if awk -v a="$rate" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
      best=$line best_rate=$rate
    fi
  done
  if [[ -z "$best" ]]; then
    echo "bench: no decrypt round at $records records gave a figure" >&2
    exit 1
  fi
  echo "records=$records audit_mib=$AUDIT_MIB startup_ms=$STARTUP_MS rss_mib=$(rss_mib "$DAEMON_PID") $best" |
    tee -a "$OUT/scale.txt"
  stop_daemon
done
DB_MIB=$(du -m "$WORK/scale/kmsd.db" | cut -f1)

echo "== policy evaluation (100 rules) and file encryption"
"$BIN/bench/policy/policy_bench" --benchmark_min_time="$POLICY_MIN_TIME" \
  --benchmark_format=console 2>/dev/null | tee "$OUT/policy.txt"
# Files on tmpfs (the bench's default): on disk, fsync bounds the figure at
# disk speed, which says nothing about the code (the copy row shows that floor).
"$BIN/bench/recording/recording_bench" --size-mib "$RECORDING_MIB" --runs "$RECORDING_RUNS" \
  --workers 0,1,2 2>&1 | tee "$OUT/recording.txt"

bench/report.sh "$OUT" "$DAEMON_RSS" "$DB_MIB" | tee "$OUT/report.md"

# A run with failed requests, or with decrypt rounds that ran out of
# authorization tokens (their figure is capped), is not a result: say so in
# the exit status.
if grep -hE " errors=[1-9]" "$OUT/http.txt" "$OUT/scale-rounds.txt" >&2; then
  echo "bench: requests failed (see $OUT/http-errors.txt)" >&2
  exit 1
fi
if grep -h "ran out of authorization tokens" "$OUT/http-errors.txt" >&2; then
  echo "bench: a decrypt round ran out of authorization tokens (see $OUT/http-errors.txt)" >&2
  exit 1
fi
