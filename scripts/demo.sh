#!/usr/bin/env bash
# The main job, end to end, on a running `kmsd --dev` (started by scripts/dev.sh):
# a media server encrypts a real recording with a data key from the broker; a
# second client, holding an authorization token from the storage server,
# decrypts it; then a policy denial and a destroyed key (410) are shown.
#   scripts/demo.sh BUILD_DIR DATA_DIR URL
set -euo pipefail
BUILD=$1 DATA=$2 URL=$3
KMSCTL="$BUILD/cli/kmsctl/kmsctl"
export KMSD_URL=$URL
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n== %s\n' "$*"; }

# A real recording: sound shipped by Debian's sound-theme-freedesktop.
RECORDING=/usr/share/sounds/freedesktop/stereo/complete.oga
[[ -r $RECORDING ]] || { echo "missing $RECORDING (apt-get install sound-theme-freedesktop)" >&2; exit 1; }
TENANT=demo-$(date +%s)

step "media server (tenant $TENANT) gets a bearer token from the identity provider"
MEDIA_TOKEN=$("$KMSCTL" dev token --data-dir "$DATA" --tenant "$TENANT" --subject media-server --roles encrypt,admin)
echo "token minted ($(printf %s "$MEDIA_TOKEN" | wc -c) bytes, not shown)"

step "media server encrypts $(basename "$RECORDING") ($(stat -c %s "$RECORDING") bytes) as asset type 'recording'"
CTX_JSON=$(KMSD_TOKEN=$MEDIA_TOKEN "$KMSCTL" encrypt-file "$RECORDING" "$WORK/meeting.kmsenc" \
  --asset-type recording --asset-id "meetings/2026-12-03/board.oga")
echo "$CTX_JSON"
CTX=$(printf '%s' "$CTX_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["context_id"])')
echo "encrypted file: $(stat -c %s "$WORK/meeting.kmsenc") bytes"

step "storage server signs an authorization token for context $CTX; a second client decrypts"
VIEWER_TOKEN=$("$KMSCTL" dev token --data-dir "$DATA" --tenant "$TENANT" --subject viewer --roles decrypt)
AUTHZ=$("$KMSCTL" dev authz --data-dir "$DATA" --tenant "$TENANT" --context-id "$CTX" --subject viewer)
KMSD_TOKEN=$VIEWER_TOKEN "$KMSCTL" decrypt-file "$WORK/meeting.kmsenc" "$WORK/meeting.oga" --authz "$AUTHZ"
if cmp -s "$RECORDING" "$WORK/meeting.oga"; then
  echo "decrypted bytes are identical to the original recording"
else
  echo "DECRYPTED BYTES DIFFER" >&2
  exit 1
fi

step "the tenant's admin sets a policy: no decryption of recordings"
cat >"$WORK/policy.json" <<'JSON'
{"default": "allow",
 "rules": [{"id": "no-recordings", "effect": "deny", "operations": ["decrypt"],
            "asset_types": ["recording"]}]}
JSON
KMSD_TOKEN=$MEDIA_TOKEN "$KMSCTL" policy set "$WORK/policy.json"
AUTHZ=$("$KMSCTL" dev authz --data-dir "$DATA" --tenant "$TENANT" --context-id "$CTX" --subject viewer)
# expect_refusal NAME STATUS_CODE OUTPUT CMD...: the command must exit 3
# (refused) naming STATUS_CODE (e.g. "403 policy_denied"), and leave no OUTPUT.
expect_refusal() {
  local what=$1 code=$2 out=$3 status=0
  shift 3
  "$@" 2>"$WORK/stderr" || status=$?
  cat "$WORK/stderr" >&2
  if [[ $status -ne 3 ]] || ! grep -q "$code" "$WORK/stderr" || [[ -e $out ]]; then
    echo "DEMO FAILED: $what: expected exit 3 with '$code' and no $out (exit $status)" >&2
    exit 1
  fi
  echo "refused as expected (exit $status, $code), no output file written"
}
expect_refusal "policy denial" "403 policy_denied" "$WORK/denied.oga" \
  env KMSD_TOKEN="$VIEWER_TOKEN" "$KMSCTL" decrypt-file "$WORK/meeting.kmsenc" "$WORK/denied.oga" --authz "$AUTHZ"

step "the admin lifts the policy and destroys the key: crypto-shredding"
echo '{"default": "allow", "rules": []}' >"$WORK/open.json"
KMSD_TOKEN=$MEDIA_TOKEN "$KMSCTL" policy set "$WORK/open.json" >/dev/null
KMSD_TOKEN=$MEDIA_TOKEN "$KMSCTL" records destroy "$CTX"
AUTHZ=$("$KMSCTL" dev authz --data-dir "$DATA" --tenant "$TENANT" --context-id "$CTX" --subject viewer)
expect_refusal "destroyed key" "410 key_destroyed" "$WORK/gone.oga" \
  env KMSD_TOKEN="$VIEWER_TOKEN" "$KMSCTL" decrypt-file "$WORK/meeting.kmsenc" "$WORK/gone.oga" --authz "$AUTHZ"
echo "the key is gone for good"

step "the audit trail verifies (hash chain and token-signed checkpoints)"
"$KMSCTL" audit verify --public-key "$DATA/audit/audit-signer.pub.pem" "$DATA"/audit/audit-*.jsonl
echo
echo "demo complete"
