#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis and
# every check: no request may get a 5xx, every answer must match the
# document (errors included: each is the JSON error body), every request the
# document allows is accepted and every one it forbids refused, and the
# stateful phase follows the document's links. Part of scripts/test.sh.
#
#   scripts/fuzz-api.sh            # uses target/debug/eldercare (built by the tests)
#   EXAMPLES=100 scripts/fuzz-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${EXAMPLES:-25}
HTTP_PORT=${HTTP_PORT:-18083}
bin=${ELDERCARE_BIN:-target/debug/eldercare}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_fuzz "$HTTP_PORT"
# The fuzzer posts far more than 30 messages as one user in 10 minutes; the
# limit itself is an integration test (notifications.rs).
export ELDERCARE__MESSAGES__PER_USER=1000000
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

start_backend "$bin" .run/fuzz-serve.log
url="http://$HTTP_ADDR"
token=$(curl -fsS "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ELDERCARE_ADMIN_EMAIL\",\"password\":\"$ELDERCARE_ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Open alerts, raised as devices raise them (an SOS over MQTT), so the
# stateful phase reaches the alert actions through the document's links.
api() { curl -fsS "$url$1" -H "Authorization: Bearer $token" -H 'content-type: application/json' "${@:2}"; }
for n in 1 2 3; do
  resident=$(api /api/v1/residents -d "{\"name\": \"Fuzz resident $n\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  password=$(api /api/v1/devices -d "{\"device_id\": \"fuzz-sos-$n\", \"resident_id\": \"$resident\", \"kind\": \"sos_button\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["mqtt"]["password"])')
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -u "fuzz-sos-$n" -P "$password" -i "fuzz-sos-$n" -q 1 \
    -t "eldercare/v1/fuzz-sos-$n/event" -m "{\"ts\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"event\": \"sos_pressed\"}"
done
for _ in $(seq 1 100); do
  [ "$(api '/api/v1/alerts?limit=3' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["alerts"]))')" = 3 ] && break
  sleep 0.1
done

# Every check, the stateful phase (following the document's links) included.
# Excluded: operations that would end the fuzzer's own run, each covered by
# the integration tests: the live stream never ends; logout, a password
# change or reset, revoking or ending sessions and disabling or demoting a
# user would end the session it runs with; erasing a resident would take
# the data the rest of the run reads. Settings (the example cache
# under .run/, NUL-free text, where 422 is a documented answer to valid
# input) are in scripts/fuzz-api.toml.
# One worker: with two, Hypothesis's shared caches occasionally fail inside
# the fuzzer itself ("AST constructor recursion depth mismatch"), which is
# no finding about the API.
"$venv/bin/st" --config-file scripts/fuzz-api.toml run "$url/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --exclude-path /api/v1/alerts/stream --exclude-path /api/v1/auth/logout \
  --exclude-path /api/v1/me/password --exclude-path /api/v1/users/{id}/password \
  --exclude-path /api/v1/users/{id}/revoke-sessions --exclude-path /api/v1/me/sessions/{id} \
  --exclude-path /api/v1/users/{id} --exclude-path /api/v1/residents/{id}/erase \
  --max-examples "$EXAMPLES" --generation-deterministic --request-timeout 10 --workers 1 \
  --suppress-health-check all
if grep -q "panicked" .run/fuzz-serve.log; then
  echo "the server panicked during fuzzing:"; grep -A5 panicked .run/fuzz-serve.log; exit 1
fi
