#!/usr/bin/env bash
# Several `serve` processes in one share group (ELDERCARE__INGEST__SHARE_GROUP)
# on one broker and one database: the same QoS 1 load (devices connected as
# themselves) ingested by 1, 2 and 3 processes. Reports, per round, messages/s
# in all (first publish to last committed row) and per process (each one's
# eldercare_messages_stored_total); then the RSS of one process, sampled with
# `ps -o rss` every second, while the simulator's load mode drives
# RSS_DEVICES devices.
#
#   scripts/bench-scale.sh                          # release build
#   BUILD=debug N=60000 scripts/bench-scale.sh      # no release build
#   ROUNDS="1 3" RSS_DEVICES=0 scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-300000}                    # messages per round
DEVICES=${DEVICES:-1000}
RATE=${RATE:-200000}              # publisher target: as fast as it goes
INFLIGHT=${INFLIGHT:-100}
ROUNDS=${ROUNDS:-"1 2 3"}
RSS_DEVICES=${RSS_DEVICES:-10000} # 0 skips the memory run
RSS_RATE=${RSS_RATE:-167}         # 10,000 devices at 1 message/min each
RSS_SECONDS=${RSS_SECONDS:-60}
BUILD=${BUILD:-release}
BASE_PORT=${BASE_PORT:-18091}
GROUP=bench-scale

[ -f .run/env ] || bash scripts/services.sh >/dev/null
# shellcheck source=/dev/null
source .run/env
base=${DATABASE_URL%/*}
psql "$base/postgres" -qc "drop database if exists eldercare_bench_scale" -qc "create database eldercare_bench_scale"
export DATABASE_URL="$base/eldercare_bench_scale"
export ELDERCARE_ADMIN_EMAIL=bench-scale@eldercare.local ELDERCARE_ADMIN_PASSWORD=bench-scale-admin-password
export RUST_LOG=${RUST_LOG:-warn}
# Three processes on a database others may share: small API pools (ingest
# and rules keep their own).
export ELDERCARE__DATABASE__MAX_CONNECTIONS=4 ELDERCARE__DATABASE__API_CONNECTIONS=4
mqtt_port=$MQTT_PORT
ingest_url=${MQTT_URL%%\?*}
run="bench-scale-$(date +%s)-$$"

[ "$BUILD" = debug ] || [ "$BUILD" = release ] || { echo "BUILD is debug or release"; exit 1; }
if [ "$BUILD" = release ]; then
  cargo build --release -q -p eldercare -p eldercare-sim
else
  cargo build -q -p eldercare -p eldercare-sim
fi
bin=target/$BUILD

pids=()
clients=()
start() { # start K ROUND: K processes, client ids of this round
  local k=$1 round=$2
  for i in $(seq 1 "$k"); do
    local client="$run-r$round-$i"
    MQTT_URL="$ingest_url?client_id=$client" HTTP_ADDR="127.0.0.1:$((BASE_PORT + i))" \
      ELDERCARE__INGEST__SHARE_GROUP=$GROUP "$bin/eldercare" serve >".run/bench-scale-$i.log" 2>&1 &
    pids+=($!)
    clients+=("$client")
    # The first one migrates and bootstraps alone.
    wait_ready "$i"
  done
}
wait_ready() {
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$((BASE_PORT + $1))/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "process $1 did not become ready; see .run/bench-scale-$1.log"; tail -n 20 ".run/bench-scale-$1.log"; exit 1
}
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # End the persistent sessions: a shared subscription would otherwise keep
  # handing a share of every later message to members that never return.
  for client in "${clients[@]}"; do
    for session in "$client-events" "$client-telemetry"; do
      mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -u eldercare-ingest -P "$MQTT_INGEST_PASSWORD" -i "$session" \
        -t eldercare/session/done -n -q 0 || true
    done
  done
  pids=()
  clients=()
}
trap stop_all EXIT
now() { date +%s.%N; }
stored_by() { curl -fsS "http://127.0.0.1:$((BASE_PORT + $1))/metrics" | awk '/^eldercare_messages_stored_total / {print $2}'; }
# Each load message carries two readings (heart_rate and spo2): messages are
# counted by one of them.
stored() { psql "$DATABASE_URL" -tAc "select count(*) from readings where metric = 'heart_rate'"; }

# Registers load-00001... through the API, 16 at a time (the simulator does
# it one by one), into the simulator's state file.
provision() { # COUNT STATE
  python3 - "$1" "$2" "http://127.0.0.1:$((BASE_PORT + 1))" <<'EOF'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
count, path, url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import os
def call(method, p, body, token=None):
    req = urllib.request.Request(url + p, data=json.dumps(body).encode(), method=method,
                                 headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
token = call("POST", "/api/v1/auth/login", {"email": os.environ["ELDERCARE_ADMIN_EMAIL"],
                                             "password": os.environ["ELDERCARE_ADMIN_PASSWORD"]})["token"]
def register(n):
    # Worn by a resident of its own: the vital rules judge every reading,
    # over the vital state the processes share.
    device = f"load-{n:05d}"
    wearer = call("POST", "/api/v1/residents", {"name": f"Wearer of {device}", "timezone": "UTC"}, token)["id"]
    r = call("POST", "/api/v1/devices", {"device_id": device, "kind": "wearable", "resident_id": wearer}, token)
    return device, r["mqtt"]["password"]
with ThreadPoolExecutor(16) as pool:
    mqtt = dict(pool.map(register, range(1, count + 1)))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"base_url": url, "residents": {}, "mqtt": mqtt}, f)
EOF
}

devices=$DEVICES
state=.run/bench-scale-sim.json
echo "== registering $devices devices"
start 1 0
t0=$(now)
provision "$devices" "$state"
printf 'registered in %.0f s\n' "$(echo "$(now) - $t0" | bc -l)"
stop_all

load() {
  "$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" load --qos 1 --inflight "$INFLIGHT" --state "$state" "$@"
}
target=0
for k in $ROUNDS; do
  echo "== $k process(es), share group $GROUP: $N messages from $DEVICES devices"
  start "$k" "$k"
  target=$((target + N))
  t0=$(now)
  load --devices "$DEVICES" --rate "$RATE" --count "$N" | tail -n 1
  until [ "$(stored)" -ge "$target" ]; do sleep 0.05; done
  t1=$(now)
  rate=$(echo "$N / ($t1 - $t0)" | bc -l)
  printf 'total: %.0f msg/s (%d processes)\n' "$rate" "$k"
  for i in $(seq 1 "$k"); do
    mine=$(stored_by "$i")
    printf '  process %d: %.0f msg/s (%d messages, %.0f%%)\n' "$i" "$(echo "$mine / ($t1 - $t0)" | bc -l)" \
      "$mine" "$(echo "100 * $mine / $N" | bc -l)"
  done
  stop_all
done

if [ "$RSS_DEVICES" -gt 0 ]; then
  # The backend's memory grows with the devices it knows and hears from, not
  # with their broker connections (it has two): the devices are registered
  # straight in the database and publish, unauthenticated, through a private
  # Mosquitto of this run, sparing the shared broker 10,000 accounts (its
  # account file is rewritten on every change: registering them through the
  # API takes an hour).
  echo "== memory: one process, $RSS_DEVICES devices publishing, $RSS_RATE msg/s for ${RSS_SECONDS}s"
  psql "$DATABASE_URL" -qc "insert into devices (device_id, institution_id, kind)
    select format('load-%s', lpad(n::text, 5, '0')), (select id from institutions limit 1), 'wearable'
    from generate_series(1, $RSS_DEVICES) n on conflict do nothing"
  mem_dir=$(mktemp -d)
  mem_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 2000000\nmax_inflight_messages 0\n' \
    "$mem_port" >"$mem_dir/mosquitto.conf"
  mosquitto -c "$mem_dir/mosquitto.conf" >"$mem_dir/log" 2>&1 &
  broker=$!
  trap 'stop_all; kill "$broker" 2>/dev/null || true; rm -rf "$mem_dir"' EXIT
  sleep 0.5
  MQTT_URL="mqtt://127.0.0.1:$mem_port?client_id=$run-mem" HTTP_ADDR="127.0.0.1:$((BASE_PORT + 1))" \
    env -u MQTT_ADMIN_URL "$bin/eldercare" serve >.run/bench-scale-1.log 2>&1 &
  serve=$!
  pids+=("$serve")
  wait_ready 1
  idle=$(ps -o rss= -p "$serve")
  "$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mem_port" load --qos 1 --devices "$RSS_DEVICES" \
    --connections 100 --rate "$RSS_RATE" --duration "${RSS_SECONDS}s" --state "$mem_dir/none.json" >/dev/null &
  sim=$!
  peak=0
  samples=0
  while kill -0 "$sim" 2>/dev/null; do
    rss=$(ps -o rss= -p "$serve")
    [ "$rss" -gt "$peak" ] && peak=$rss
    samples=$((samples + 1))
    sleep 1
  done
  wait "$sim" || true
  last=$(ps -o rss= -p "$serve")
  heard=$(psql "$DATABASE_URL" -tAc "select count(distinct device_id) from readings where device_id like 'load-%'")
  printf 'RSS: %d MiB before the load, peak %d MiB, %d MiB at the end (%d samples; %d devices heard from)\n' \
    "$((idle / 1024))" "$((peak / 1024))" "$((last / 1024))" "$samples" "$heard"
fi
