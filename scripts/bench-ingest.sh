#!/usr/bin/env bash
# Ingest benchmark: a sustained QoS 1 load from many devices, each connected
# as itself with its own credential (one connection per device) and worn by a
# resident of its own (so every heart rate and SpO2 is judged by the vital
# rules, over the shared vital state), through the real broker with dynamic
# security, into the real database, with acks after commit and synchronous
# commit. Reports, from the same run:
#   raw broker drain rate  the same load drained by mosquitto_sub -C N
#   backend rate           first publish to last reading committed, and to the
#                          last reading judged by the vital rules
#   peak RSS of the backend
#
#   scripts/bench-ingest.sh            # 300k messages from 1000 devices
#   N=1000000 DEVICES=5000 scripts/bench-ingest.sh
#   PROFILE=1 scripts/bench-ingest.sh  # also a perf profile of the backend
#                                      # phase: the whole machine's CPU by
#                                      # process, and the backend's top symbols
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-300000}
DEVICES=${DEVICES:-1000}
RATE=${RATE:-200000}          # publisher target: as fast as it goes
INFLIGHT=${INFLIGHT:-100}     # unacknowledged publishes per device connection
HTTP_PORT=${HTTP_PORT:-18081}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench "$HTTP_PORT"
cargo build --release -q -p eldercare -p eldercare-sim
bin=target/release
state=.run/bench-ingest-sim.json
rm -f "$state"
load() {
  "$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" load --devices "$DEVICES" --rate "$RATE" \
    --count "$N" --inflight "$INFLIGHT" --qos 1 --state "$state" "$@"
}
now() { date +%s.%N; }

# The devices are registered first (each gets its credential, kept in the
# simulator's state file), and the backend stops again: the raw drain runs
# without it.
echo "== registering $DEVICES devices"
start_backend "$bin/eldercare" .run/bench-serve.log
# A second pass registers what the first could not: at its start the backend
# reconciles the broker's accounts (those of the last run's database too) and
# a registration waiting on that longer than the statement timeout is refused.
for _ in 1 2; do
  "$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" load --devices "$DEVICES" --count 0 --provision --worn \
    --state "$state" --url "http://$HTTP_ADDR" --admin-email "$ELDERCARE_ADMIN_EMAIL" \
    --admin-password "$ELDERCARE_ADMIN_PASSWORD" >/dev/null 2>&1 || true
  registered=$(psql "$DATABASE_URL" -tAc "select count(*) from mqtt_accounts where kind = 'device'")
  [ "$registered" -ge "$DEVICES" ] && break
done
[ "$registered" -ge "$DEVICES" ] || { echo "provisioning issued $registered of $DEVICES credentials"; exit 1; }
stop_backend

echo "== raw broker: $N messages drained by mosquitto_sub (QoS 1), one connection per device"
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -u eldercare-ingest -P "$MQTT_INGEST_PASSWORD" -q 1 \
  -t 'eldercare/v1/+/telemetry' -C "$N" -i "$client-drain" >/dev/null &
sub=$!
sleep 0.5   # the subscription must exist before the first publish
t0=$(now)
load | tail -n 2
wait "$sub"
t1=$(now)
raw=$(echo "$N / ($t1 - $t0)" | bc -l)
printf 'raw broker drain: %.0f msg/s\n' "$raw"

echo "== backend: the same load, acknowledged only after commit"
start_backend "$bin/eldercare" .run/bench-serve.log
if [ "${PROFILE:-}" = 1 ]; then
  perf record -a -g -F 499 -o .run/perf-ingest.data >/dev/null 2>&1 &
  perf_pid=$!
fi
t0=$(now)
load | tail -n 2
# Each load message carries two vital readings (heart_rate and spo2). The
# backend's own counters say when they are all committed and all judged (a
# count(*) over the readings every 50 ms would load the database measured).
counter() { curl -fsS "http://$HTTP_ADDR/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
until [ "$(counter eldercare_readings_stored_total)" -ge $((2 * N)) ]; do sleep 0.05; done
t_stored=$(now)
until [ "$(counter eldercare_vital_readings_judged_total)" -ge $((2 * N)) ]; do sleep 0.05; done
t1=$(now)
if [ -n "${perf_pid:-}" ]; then
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
fi
rate=$(echo "$N / ($t1 - $t0)" | bc -l)
rss=$(awk '/VmHWM/ {print $2}' /proc/$serve/status)
stored=$(psql "$DATABASE_URL" -tAc "select count(*) from readings")
messages=$(psql "$DATABASE_URL" -tAc "select count(*) from readings where metric = 'heart_rate'")
quarantined=$(psql "$DATABASE_URL" -tAc "select count(*) from quarantine")
printf 'backend: %.0f msg/s first publish to last reading committed (%d messages, %d rows, %d quarantined)\n' \
  "$(echo "$N / ($t_stored - $t0)" | bc -l)" "$messages" "$stored" "$quarantined"
printf 'backend: %.0f msg/s first publish to last reading judged by the vital rules\n' "$rate"
printf 'ratio to raw broker drain: %.2f\n' "$(echo "$rate / $raw" | bc -l)"
printf 'backend peak RSS: %d MiB\n' "$((rss / 1024))"

if [ -n "${perf_pid:-}" ]; then
  echo "== profile: CPU samples by process (whole machine, backend phase)"
  perf report -i .run/perf-ingest.data --no-children --sort comm --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -n 8
  echo "== profile: the backend's top symbols (self)"
  perf report -i .run/perf-ingest.data --no-children --comm eldercare,tokio-rt-worker --sort dso,symbol \
    --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
fi
