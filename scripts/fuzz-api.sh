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

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_fuzz "$HTTP_PORT"
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
