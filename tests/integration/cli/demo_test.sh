#!/usr/bin/env bash
# README command 1's main job, as a test: starts `kmsd --dev` on a free
# loopback port with a fresh data dir, runs scripts/demo.sh against it (real
# recording encrypted, decrypted by a second client and compared; 403
# policy_denied; 410 key_destroyed; audit chain verified), then stops kmsd.
#   demo_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC=$1 BUILD=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kmsd-demo-test.XXXXXX")
KMSD_PID=""
cleanup() {
  if [[ -n $KMSD_PID ]]; then kill -TERM "$KMSD_PID" 2>/dev/null || true; wait "$KMSD_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# A random port below the kernel's ephemeral range; a start that loses it to
# another process (tests run in parallel) is retried on another one.
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 12000))
  (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
  URL="http://127.0.0.1:$port"
  "$BUILD/daemon/kmsd" --dev --data-dir "$WORK/dev" --listen "127.0.0.1:$port" >"$WORK/kmsd.log" 2>&1 &
  KMSD_PID=$!
  for _ in $(seq 1 300); do
    curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$KMSD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$KMSD_PID" 2>/dev/null && break
  KMSD_PID=""
  grep -q "cannot listen" "$WORK/kmsd.log" && [[ $attempt -lt 5 ]] && continue
  cat "$WORK/kmsd.log" >&2
  echo "kmsd exited" >&2
  exit 1
done
curl -fsS "$URL/readyz" >/dev/null
"$SRC/scripts/demo.sh" "$BUILD" "$WORK/dev" "$URL" | tee "$WORK/demo.out"
grep -q "^demo complete$" "$WORK/demo.out"
# The modes docs/dev-mode.md promises: secrets owner-only, public keys readable.
for f in token.pin dev-idp.key dev-storage-signer.key kmsd.db; do
  [[ $(stat -c %a "$WORK/dev/$f") == 600 ]] || { echo "$f is not 0600" >&2; exit 1; }
done
for f in dev-idp.jwks.json dev-storage-signer.jwks.json audit/audit-signer.pub.pem; do
  [[ $(stat -c %a "$WORK/dev/$f") == 644 ]] || { echo "$f is not 0644" >&2; exit 1; }
done
# Nothing secret in what the daemon printed: neither the dev PIN nor a token.
pin=$(cat "$WORK/dev/token.pin" 2>/dev/null || true)
if [[ -n $pin ]] && grep -qF "$pin" "$WORK/kmsd.log"; then
  echo "the dev PIN appears in kmsd's output" >&2
  exit 1
fi
if grep -qE 'eyJ[A-Za-z0-9_-]{10,}\.' "$WORK/kmsd.log"; then
  echo "a JWS appears in kmsd's output" >&2
  exit 1
fi
echo "demo_test: passed"
