#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis:
# no request may get a 5xx, and every answer must match the document (errors
# included: each is the JSON error body). Part of scripts/test.sh.
#
#   scripts/fuzz-api.sh            # uses target/debug/eldercare (built by the tests)
#   EXAMPLES=100 scripts/fuzz-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${EXAMPLES:-25}
HTTP_PORT=${HTTP_PORT:-18083}
bin=${ELDERCARE_BIN:-target/debug/eldercare}

bash scripts/services.sh >/dev/null
# shellcheck source=/dev/null
source .run/env
[ -x "$bin" ] || cargo build -q -p eldercare

# schemathesis from PyPI, in a virtualenv of our own.
venv=.run/venv
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'
fi

base=${DATABASE_URL%/*}
db=eldercare_fuzz
psql "$base/postgres" -qc "drop database if exists $db" -qc "create database $db"
client=eldercare-fuzz-$$
export DATABASE_URL="$base/$db"
mqtt_port=${MQTT_URL#mqtt://127.0.0.1:}; mqtt_port=${mqtt_port%%\?*}
export MQTT_URL="mqtt://127.0.0.1:$mqtt_port?client_id=$client"
export HTTP_ADDR=127.0.0.1:$HTTP_PORT
export ELDERCARE_ADMIN_EMAIL=fuzz@eldercare.local ELDERCARE_ADMIN_PASSWORD=fuzz-admin-password
export RUST_LOG=warn
"$bin" serve > .run/fuzz-serve.log 2>&1 &
serve=$!
cleanup() {
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -i "$client" -t eldercare/fuzz/done -n -q 0 || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -fsS "http://$HTTP_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
url="http://$HTTP_ADDR"
token=$(curl -fsS "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ELDERCARE_ADMIN_EMAIL\",\"password\":\"$ELDERCARE_ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Excluded: the live stream never ends, and logout would revoke the token the
# fuzzer runs with (both are covered by the integration tests).
"$venv/bin/st" run "$url/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,content_type_conformance,response_schema_conformance,status_code_conformance \
  --exclude-path /api/v1/alerts/stream --exclude-path /api/v1/auth/logout \
  --max-examples "$EXAMPLES" --generation-deterministic --request-timeout 10 --workers 2 \
  --suppress-health-check all
if grep -q "panicked" .run/fuzz-serve.log; then
  echo "the server panicked during fuzzing:"; grep -A5 panicked .run/fuzz-serve.log; exit 1
fi
