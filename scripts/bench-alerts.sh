#!/usr/bin/env bash
# Alert latency benchmark: an SOS button publishes over MQTT and the time
# until the alert arrives on the live stream (SSE) is measured, p50/p99,
# while the simulator keeps background telemetry flowing.
#
#   scripts/bench-alerts.sh                     # 300 samples, 5,000 msg/s background
#   SAMPLES=1000 BACKGROUND_RATE=8000 scripts/bench-alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLES=${SAMPLES:-300}
BACKGROUND_RATE=${BACKGROUND_RATE:-5000}
HTTP_PORT=${HTTP_PORT:-18082}

bash scripts/services.sh >/dev/null
# shellcheck source=/dev/null
source .run/env
cargo build --release -q -p eldercare -p eldercare-sim
bin=target/release

base=${DATABASE_URL%/*}
db=eldercare_bench_alerts
psql "$base/postgres" -qc "drop database if exists $db" -qc "create database $db"
export DATABASE_URL="$base/$db"
mqtt_port=${MQTT_URL#mqtt://127.0.0.1:}; mqtt_port=${mqtt_port%%\?*}
client=eldercare-bench-alerts-$(date +%s)
export MQTT_URL="mqtt://127.0.0.1:$mqtt_port?client_id=$client"
export HTTP_ADDR=127.0.0.1:$HTTP_PORT
export ELDERCARE_ADMIN_EMAIL=bench@eldercare.local ELDERCARE_ADMIN_PASSWORD=bench-admin-password
export RUST_LOG=warn

"$bin/eldercare" serve > .run/bench-alerts-serve.log 2>&1 &
serve=$!
cleanup() {
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  # Drop the benchmark's persistent session, or the broker keeps queueing
  # every later message for it.
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -i "$client" -t eldercare/bench/done -n -q 0 || true
}
trap cleanup EXIT
until curl -fsS "http://$HTTP_ADDR/readyz" >/dev/null 2>&1; do sleep 0.1; done

"$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" latency --samples "$SAMPLES" \
  --background-rate "$BACKGROUND_RATE" --url "http://$HTTP_ADDR" \
  --admin-email "$ELDERCARE_ADMIN_EMAIL" --admin-password "$ELDERCARE_ADMIN_PASSWORD"
stored=$(psql "$DATABASE_URL" -tAc "select count(*) from readings")
echo "background readings stored during the run: $stored"
