#!/usr/bin/env bash
# The real kmsd executable over HTTPS, driven from outside with openssl and
# curl as a client of the customer's would: `kmsd --config` with TLS and
# mutual TLS on 127.0.0.1, a real SoftHSM2 token, SQLite store and audit log.
#
#  - TLS 1.2 and 1.3 accepted; TLS 1.1 refused (offered by a client that
#    allows it, so the refusal is the server's);
#  - mutual TLS: no client certificate, and one from another CA, are refused
#    before any HTTP is read; a certificate mapped in [[client_certificates]]
#    authenticates by itself; a bearer token over mTLS works with kmsctl;
#  - SIGHUP swaps the server certificate for new connections while a
#    keep-alive connection opened before goes on being served; a broken
#    certificate file on SIGHUP keeps the old one in force.
#
#   kmsd_tls_test.sh BUILD_DIR
set -euo pipefail
BUILD=$1
KMSD=$BUILD/daemon/kmsd
KMSCTL=$BUILD/cli/kmsctl/kmsctl
W=$(mktemp -d "${TMPDIR:-/tmp}/kmsd-tls-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $W/kmsd.log ]] && tail -20 "$W/kmsd.log" >&2; exit 1; }
pass() { echo "ok: $*"; }
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral range (32768-60999)
    (: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}
# started PID CMD...: true once CMD succeeds; false at once if PID exits, or after 30 s.
started() {
  local pid=$1
  shift
  for _ in $(seq 1 300); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_for() { # wait_for CMD...: up to 30 s
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- PKI: CA one (server one and two, client one), CA two (client other).
P=$W/pki
mkdir -p "$P"
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=$1" -keyout "$P/$1.key" -out "$P/$1.crt" 2>/dev/null; }
leaf() { # leaf NAME CA EXT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
  openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial \
    -days 2 -extfile <(printf '%s\n' "$3") -out "$P/$1.crt" 2>/dev/null
}
ca ca-one
ca ca-two
leaf server-one ca-one "subjectAltName=IP:127.0.0.1"
leaf server-two ca-one "subjectAltName=IP:127.0.0.1"
leaf client-one ca-one "extendedKeyUsage=clientAuth"
leaf client-other ca-two "extendedKeyUsage=clientAuth"

# --- A token, identity-provider and storage-signer keys: made once by kmsd --dev.
D=$W/dev
# Ports are picked at random: a start that loses the port to another process
# (tests run in parallel) is retried on another one.
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  "$KMSD" --dev --data-dir "$D" --listen "127.0.0.1:$PORT" >"$W/dev.log" 2>&1 &
  DEV_PID=$!
  PIDS+=("$DEV_PID")
  started "$DEV_PID" curl -fsS "http://127.0.0.1:$PORT/readyz" && break
  grep -q "cannot listen" "$W/dev.log" && [[ $attempt -lt 5 ]] && continue
  cat "$W/dev.log" >&2
  fail "kmsd --dev not ready"
done
kill -TERM "$DEV_PID"
wait "$DEV_PID" || true

# --- kmsd --config with TLS and mutual TLS.
mkdir -p "$W/tls" "$W/state"
cp "$P/server-one.crt" "$W/tls/cert.pem"
cp "$P/server-one.key" "$W/tls/key.pem"
CLIENT_SHA=$(openssl x509 -in "$P/client-one.crt" -noout -fingerprint -sha256 | cut -d= -f2)
write_config() {
cat >"$W/kmsd.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[tls]
enabled = true
cert_file = "$W/tls/cert.pem"
key_file = "$W/tls/key.pem"
client_ca_file = "$P/ca-one.crt"
[store]
path = "$W/state/kmsd.db"
[audit]
dir = "$W/audit"
[identity]
issuer = "kmsd-dev-idp"
audience = "kmsd"
jwks_file = "$D/dev-idp.jwks.json"
[identity.role_map]
"encrypt" = "encrypt"
"decrypt" = "decrypt"
"admin" = "admin"
[authorization]
broker_id = "kmsd"
[[tokens]]
name = "main"
module = "/usr/lib/softhsm/libsofthsm2.so"
label = "kmsd-dev"
pin_file = "$D/token.pin"
[[tenants]]
name = "acme"
token = "main"
signers_jwks_file = "$D/dev-storage-signer.jwks.json"
signers_issuer = "kmsd-dev-storage"
[[client_certificates]]
sha256 = "$CLIENT_SHA"
tenant = "acme"
principal = "media-01"
roles = ["encrypt", "decrypt"]
TOML
}
MTLS=(--cacert "$P/ca-one.crt" --cert "$P/client-one.crt" --key "$P/client-one.key")
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  write_config
  "$KMSD" --check-config "$W/kmsd.toml" >/dev/null || fail "--check-config refuses the test config"
  SOFTHSM2_CONF=$D/softhsm2.conf "$KMSD" --config "$W/kmsd.toml" >"$W/kmsd.log" 2>&1 &
  KMSD_PID=$!
  PIDS+=("$KMSD_PID")
  URL="https://127.0.0.1:$PORT"
  started "$KMSD_PID" curl -fsS "${MTLS[@]}" "$URL/readyz" && break
  grep -q "cannot listen" "$W/kmsd.log" && [[ $attempt -lt 5 ]] && continue
  fail "kmsd --config over mTLS not ready"
done
pass "kmsd --config serves /readyz over mutual TLS"

# --- Protocol versions. The client allows TLS 1.1 (security level 0) so that
# a refusal can only come from the server.
s_client() { openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/ca-one.crt" \
  -cert "$P/client-one.crt" -key "$P/client-one.key" "$@" </dev/null 2>&1; }
negotiated() { grep -qE "^New, TLSv$1,|Protocol *: TLSv$1\$"; }
s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' | negotiated 1.1 && fail "TLS 1.1 was negotiated"
s_client -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0' | negotiated 1.2 ||
  fail "TLS 1.2 not negotiated with the same client settings"
s_client -tls1_3 | negotiated 1.3 || fail "TLS 1.3 not negotiated"
pass "TLS 1.1 refused, TLS 1.2 and 1.3 accepted"

# --- Mutual TLS: no certificate, or one from another CA: no HTTP at all.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca-one.crt" "$URL/healthz" || true)
[[ $code == 000 ]] || fail "no client certificate got HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca-one.crt" \
  --cert "$P/client-other.crt" --key "$P/client-other.key" "$URL/healthz" || true)
[[ $code == 000 ]] || fail "a client certificate from another CA got HTTP $code"
pass "handshakes without a valid client certificate fail before any HTTP"

# --- The mapped certificate authenticates by itself (no bearer token).
reply=$(curl -sS "${MTLS[@]}" -H 'Content-Type: application/json' -w '\n%{http_code}' \
  -d '{"asset_type":"recording","asset_id":"tls/1"}' "$URL/v1/datakeys")
[[ $(tail -1 <<<"$reply") == 201 ]] || fail "mapped certificate generate: $reply"
CTX=$(head -1 <<<"$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["context_id"])')
KEYS=("$(head -1 <<<"$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plaintext_key"])')")
AUTHZ=$("$KMSCTL" dev authz --data-dir "$D" --tenant acme --context-id "$CTX" --subject media-01)
reply=$(curl -sS "${MTLS[@]}" -H 'Content-Type: application/json' -w '\n%{http_code}' \
  -d "{\"context_id\":\"$CTX\",\"authorization_token\":\"$AUTHZ\"}" "$URL/v1/datakeys/decrypt")
[[ $(tail -1 <<<"$reply") == 200 ]] || fail "mapped certificate decrypt: $reply"
[[ $(head -1 <<<"$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plaintext_key"])') == "${KEYS[0]}" ]] ||
  fail "decrypt released another key than generate"
code=$(curl -s -o /dev/null -w '%{http_code}' "${MTLS[@]}" "$URL/v1/keys")
[[ $code == 403 ]] || fail "the certificate's roles exclude admin, yet GET /v1/keys got $code"
pass "a mapped client certificate authenticates with its tenant and roles"

# --- A bearer token over mutual TLS, with kmsctl.
TOKEN=$("$KMSCTL" dev token --data-dir "$D" --tenant acme --subject alice --roles encrypt,decrypt,admin)
KCTL=("$KMSCTL" --url "$URL" --ca-file "$P/ca-one.crt" --cert-file "$P/client-one.crt"
  --key-file "$P/client-one.key" --token "$TOKEN")
"${KCTL[@]}" datakey generate --asset-type recording --asset-id tls/2 >"$W/gen.json" ||
  fail "kmsctl generate over mTLS"
CTX=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["context_id"])' "$W/gen.json")
AUTHZ=$("$KMSCTL" dev authz --data-dir "$D" --tenant acme --context-id "$CTX" --subject alice)
"${KCTL[@]}" datakey decrypt --context-id "$CTX" --authz "$AUTHZ" >"$W/dec.json" ||
  fail "kmsctl decrypt over mTLS"
KEYS+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plaintext_key"])' "$W/dec.json")")
pass "kmsctl generate and decrypt with a bearer token over mutual TLS"

# --- SIGHUP: new certificate for new connections; the open connection lives on.
subject() { s_client </dev/null | openssl x509 -noout -subject 2>/dev/null; }
subject | grep -q "CN *= *server-one" || fail "not serving server-one at first"
mkfifo "$W/keepalive.in"
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/ca-one.crt" -cert "$P/client-one.crt" \
  -key "$P/client-one.key" -quiet <"$W/keepalive.in" >"$W/keepalive.out" 2>"$W/keepalive.err" &
KEEPALIVE_PID=$!
PIDS+=("$KEEPALIVE_PID")
exec 3>"$W/keepalive.in"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
wait_for grep -q "HTTP/1.1 200" "$W/keepalive.out" || fail "keep-alive connection not served"
cp "$P/server-two.crt" "$W/tls/cert.pem"
cp "$P/server-two.key" "$W/tls/key.pem"
kill -HUP "$KMSD_PID"
served_cn() { # served_cn CN: true once new connections get that certificate (10 s)
  for _ in $(seq 1 100); do subject | grep -q "CN *= *$1" && return 0; sleep 0.1; done
  return 1
}
served_cn server-two || fail "new connections still get server-one after SIGHUP"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
exec 3>&-
wait "$KEEPALIVE_PID" || true
[[ $(grep -c "HTTP/1.1 200" "$W/keepalive.out") == 2 ]] ||
  fail "the connection opened before SIGHUP was not served after it: $(cat "$W/keepalive.out")"
pass "SIGHUP swapped the certificate; the connection opened before kept being served"

# --- A broken certificate on SIGHUP: the one in force stays, the log says why.
echo "not a certificate" >"$W/tls/cert.pem"
kill -HUP "$KMSD_PID"
wait_for grep -q "reload kept the previous state of: tls" "$W/kmsd.log" ||
  fail "the refused certificate reload is not logged"
kill -0 "$KMSD_PID" || fail "kmsd exited on a broken certificate"
subject | grep -q "CN *= *server-two" || fail "the certificate in force was dropped"
curl -fsS "${MTLS[@]}" "$URL/readyz" >/dev/null || fail "not serving after a broken reload"
pass "a broken certificate on SIGHUP keeps the one in force"

# Nothing secret in the daemon's output: not the PIN, a token, or any key it
# handed out (base64 as sent, and hex).
secrets=("$(cat "$D/token.pin")" "$TOKEN" "$AUTHZ")
for key in "${KEYS[@]}"; do
  [[ -n $key ]] || fail "a released key was not captured"
  secrets+=("$key" "$(base64 -d <<<"$key" | od -An -tx1 | tr -d ' \n')")
done
for secret in "${secrets[@]}"; do
  grep -qiF "$secret" "$W/kmsd.log" "$W/dev.log" && fail "a PIN, token or key appears in kmsd's output"
done
pass "no PIN, token or released key in kmsd's output"
kill -TERM "$KMSD_PID"
wait "$KMSD_PID" || fail "kmsd did not exit cleanly on SIGTERM"
echo "kmsd_tls_test: passed"
