#!/usr/bin/env bash
# README command 1: installs what is missing, builds, starts `kmsd --dev`
# (SoftHSM2 token + SQLite store + audit log under .dev/, plain HTTP on
# loopback), runs the recording demo against it, then keeps the daemon serving
# until Ctrl-C.
#   KMSD_DATA_DIR (default .dev) and KMSD_LISTEN (default 127.0.0.1:8200) override.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh -DKMSD_BUILD_TESTS=OFF -DKMSD_BUILD_BENCH=OFF
DATA_DIR=${KMSD_DATA_DIR:-$PWD/.dev}
LISTEN=${KMSD_LISTEN:-127.0.0.1:8200}
URL="http://$LISTEN"

build/daemon/kmsd --dev --data-dir "$DATA_DIR" --listen "$LISTEN" &
KMSD_PID=$!
trap 'kill -TERM $KMSD_PID 2>/dev/null; wait $KMSD_PID 2>/dev/null' EXIT
trap 'exit 0' INT TERM
for _ in $(seq 1 100); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 $KMSD_PID 2>/dev/null || { echo "kmsd exited; see its messages above" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$URL/readyz" >/dev/null

scripts/demo.sh build "$DATA_DIR" "$URL"

cat <<MSG

kmsd keeps serving at $URL (Ctrl-C stops it). Try kmsctl yourself:
  export KMSD_URL=$URL
  export KMSD_TOKEN=\$(build/cli/kmsctl/kmsctl dev token --data-dir $DATA_DIR --tenant acme --subject alice --roles encrypt,decrypt,admin)
  build/cli/kmsctl/kmsctl datakey generate --asset-type recording --asset-id mtg-1/rec.mp4
  build/cli/kmsctl/kmsctl datakey decrypt --context-id CTX \\
      --authz \$(build/cli/kmsctl/kmsctl dev authz --data-dir $DATA_DIR --tenant acme --context-id CTX)
  build/cli/kmsctl/kmsctl keys list
MSG
wait $KMSD_PID
