# Sourced by the benchmark and fuzzing scripts: a fresh database and a
# backend of its own next to the services of scripts/services.sh.
#
#   prepare_backend NAME PORT   starts the services (unless SERVICES_RUNNING=1
#                               says they are up, on a machine that shares
#                               them), sets DATABASE_URL (database NAME, recreated),
#                               MQTT_URL (the ingest account, a client id of
#                               its own), HTTP_ADDR, the admin credentials,
#                               mqtt_port and client
#   build_backend PROFILE [PKG...]
#                               builds eldercare (and PKG...) in PROFILE (debug
#                               or release) and sets bin=target/PROFILE; with
#                               $ELDERCARE_BIN (another version's, to compare)
#                               builds nothing and sets bin to its directory
#   start_backend BIN LOG       starts BIN serve, waits until ready, and stops
#                               it at exit (dropping its broker session)
#   admin_login                 logs the admin in: sets url, token and auth
#                               (curl's headers); json FILTER reads a field
#   bench_backend NAME PORT     all of the above for a benchmark: the release
#                               build (or $ELDERCARE_BIN, set as bin) serving database NAME
#                               on PORT, its log in .run/NAME.log, the admin
#                               logged in; then bench_resident sets rid to a
#                               new resident in UTC

prepare_backend() {
  local name=$1 port=$2
  [ "${SERVICES_RUNNING:-}" = 1 ] || bash scripts/services.sh >/dev/null
  # shellcheck source=/dev/null
  source .run/env
  local base=${DATABASE_URL%/*}
  psql "$base/postgres" -qc "drop database if exists $name" -qc "create database $name"
  export DATABASE_URL="$base/$name"
  mqtt_port=$MQTT_PORT
  client="$name-$(date +%s)-$$"
  export MQTT_URL="${MQTT_URL%%\?*}?client_id=$client"
  export HTTP_ADDR=127.0.0.1:$port
  export ELDERCARE_ADMIN_EMAIL=$name@eldercare.local ELDERCARE_ADMIN_PASSWORD=$name-admin-password
  export RUST_LOG=${RUST_LOG:-warn}
}

build_backend() {
  local profile=$1
  shift
  # A binary given (another version's, to compare): no build.
  if [ -n "${ELDERCARE_BIN:-}" ]; then
    bin=$(dirname "$ELDERCARE_BIN")
    return 0
  fi
  local packages=(-p eldercare)
  for p in "$@"; do packages+=(-p "$p"); done
  case $profile in
    release) cargo build --release -q "${packages[@]}" ;;
    debug) cargo build -q "${packages[@]}" ;;
    *) echo "the build profile is debug or release, not $profile"; return 1 ;;
  esac
  bin=target/$profile
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

admin_login() {
  url="http://$HTTP_ADDR"
  token=$(curl -fsS "$url/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ELDERCARE_ADMIN_EMAIL\",\"password\":\"$ELDERCARE_ADMIN_PASSWORD\"}" | json '["token"]')
  auth=(-H "Authorization: Bearer $token" -H 'content-type: application/json')
}

start_backend() {
  local bin=$1 log=$2
  "$bin" serve > "$log" 2>&1 &
  serve=$!
  trap stop_backend EXIT
  for _ in $(seq 1 600); do
    curl -fsS "http://$HTTP_ADDR/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$serve" 2>/dev/null || break
    sleep 0.1
  done
  echo "the backend did not become ready; see $log"; tail -n 20 "$log"; return 1
}

stop_backend() {
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  # Drop the persistent session, or the broker keeps queueing every later
  # message for a client that never comes back: a clean connection with the
  # same client id ends it (the publish itself is refused: ingest writes
  # nothing). The backend's two sessions are named after the client id.
  for session in "$client-events" "$client-telemetry"; do
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -u eldercare-ingest -P "$MQTT_INGEST_PASSWORD" -i "$session" \
      -t eldercare/session/done -n -q 0 || true
  done
}

bench_backend() {
  prepare_backend "$1" "$2"
  bin=${ELDERCARE_BIN:-target/release/eldercare}
  [ -n "${ELDERCARE_BIN:-}" ] || cargo build --release -q -p eldercare
  start_backend "$bin" ".run/$1.log"
  admin_login
}

bench_resident() {
  rid=$(curl -fsS "${auth[@]}" "$url/api/v1/residents" -d '{"name": "Bench Resident", "timezone": "UTC"}' | json '["id"]')
}
