#!/usr/bin/env bash
# Ingest benchmark: a sustained QoS 1 load from many devices, through the
# real broker, into the real database, with acks after commit and
# synchronous commit. Reports, from the same run:
#   raw broker drain rate  the same load drained by mosquitto_sub -C N
#   backend rate           first publish to last committed row
#   peak RSS of the backend
#
#   scripts/bench-ingest.sh            # 300k messages from 1000 devices
#   N=1000000 DEVICES=5000 scripts/bench-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-300000}
DEVICES=${DEVICES:-1000}
RATE=${RATE:-200000}          # publisher target: as fast as it goes
CONNECTIONS=${CONNECTIONS:-8}
HTTP_PORT=${HTTP_PORT:-18081}

bash scripts/services.sh >/dev/null
# shellcheck source=/dev/null
source .run/env
cargo build --release -q -p eldercare -p eldercare-sim
bin=target/release

base=${DATABASE_URL%/*}
db=eldercare_bench
psql "$base/postgres" -qc "drop database if exists $db" -qc "create database $db"
export DATABASE_URL="$base/$db"
mqtt_port=${MQTT_URL#mqtt://127.0.0.1:}; mqtt_port=${mqtt_port%%\?*}
run_id=$(date +%s)
export MQTT_URL="mqtt://127.0.0.1:$mqtt_port?client_id=eldercare-bench-$run_id"
export HTTP_ADDR=127.0.0.1:$HTTP_PORT
export ELDERCARE_ADMIN_EMAIL=bench@eldercare.local ELDERCARE_ADMIN_PASSWORD=bench-admin-password
export RUST_LOG=warn
load() {
  "$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" load --devices "$DEVICES" --rate "$RATE" \
    --count "$N" --connections "$CONNECTIONS" --qos 1 "$@"
}
now() { date +%s.%N; }

echo "== raw broker: $N messages drained by mosquitto_sub (QoS 1)"
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t 'eldercare/v1/+/telemetry' -C "$N" -i "bench-drain-$run_id" >/dev/null &
sub=$!
sleep 0.5   # the subscription must exist before the first publish
t0=$(now)
load | tail -n 2
wait "$sub"
t1=$(now)
raw=$(echo "$N / ($t1 - $t0)" | bc -l)
printf 'raw broker drain: %.0f msg/s\n' "$raw"

echo "== backend: the same load, acknowledged only after commit"
"$bin/eldercare" serve > .run/bench-serve.log 2>&1 &
serve=$!
cleanup() {
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  # Drop the benchmark's persistent session, or the broker keeps queueing
  # every later message for it.
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -i "eldercare-bench-$run_id" -t eldercare/bench/done -n -q 0 || true
}
trap cleanup EXIT
until curl -fsS "http://$HTTP_ADDR/readyz" >/dev/null 2>&1; do sleep 0.1; done
ELDERCARE_URL="http://$HTTP_ADDR" "$bin/eldercare-sim" load --devices "$DEVICES" --count 0 --provision \
  --url "http://$HTTP_ADDR" --admin-email "$ELDERCARE_ADMIN_EMAIL" --admin-password "$ELDERCARE_ADMIN_PASSWORD" \
  >/dev/null 2>&1 || true
registered=$(psql "$DATABASE_URL" -tAc "select count(*) from devices")
[ "$registered" -ge "$DEVICES" ] || { echo "provisioning registered $registered of $DEVICES devices"; exit 1; }
t0=$(now)
load | tail -n 2
# Each load message carries two readings (heart_rate and spo2): count messages
# by one of them.
stored() { psql "$DATABASE_URL" -tAc "select count(*) from readings where metric = 'heart_rate'"; }
until [ "$(stored)" -ge "$N" ]; do sleep 0.05; done
t1=$(now)
rate=$(echo "$N / ($t1 - $t0)" | bc -l)
rss=$(awk '/VmHWM/ {print $2}' /proc/$serve/status)
stored=$(psql "$DATABASE_URL" -tAc "select count(*) from readings")
messages=$(stored)
quarantined=$(psql "$DATABASE_URL" -tAc "select count(*) from quarantine")
printf 'backend: %.0f msg/s first publish to last committed row (%d messages, %d rows, %d quarantined)\n' \
  "$rate" "$messages" "$stored" "$quarantined"
printf 'ratio to raw broker drain: %.2f\n' "$(echo "$rate / $raw" | bc -l)"
printf 'backend peak RSS: %d MiB\n' "$((rss / 1024))"
