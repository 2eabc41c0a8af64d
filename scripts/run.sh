#!/usr/bin/env bash
# The whole product on this machine: PostgreSQL and Mosquitto (installed and
# started on loopback when missing), the backend, and the device simulator
# playing a care home's residents. Ctrl-C stops the backend and simulator.
#
# Local-demo credentials (never use them for anything real):
#   admin@eldercare.local / demo-admin-password
# The broker refuses anonymous clients: the simulator registers each device
# through the API and connects as it, with the credential it was given (kept
# in .run/sim-*.json).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# shellcheck source=/dev/null
source .run/env

export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
export ELDERCARE_ADMIN_EMAIL=${ELDERCARE_ADMIN_EMAIL:-admin@eldercare.local}
export ELDERCARE_ADMIN_PASSWORD=${ELDERCARE_ADMIN_PASSWORD:-demo-admin-password}
export ELDERCARE_OPERATOR_EMAIL=${ELDERCARE_OPERATOR_EMAIL:-operator@eldercare.local}
export ELDERCARE_OPERATOR_PASSWORD=${ELDERCARE_OPERATOR_PASSWORD:-demo-operator-password}
export ELDERCARE_URL="http://$HTTP_ADDR"
RESIDENTS=${RESIDENTS:-12}

echo "== building (release)"
cargo build --release -p eldercare -p eldercare-sim

./target/release/eldercare migrate
./target/release/eldercare serve > .run/eldercare.log 2>&1 &
backend=$!
sim=""
cleanup() {
  [ -n "$sim" ] && kill $sim 2>/dev/null || true
  kill -TERM "$backend" 2>/dev/null || true
  wait "$backend" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 300); do
  curl -fsS "$ELDERCARE_URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$backend" 2>/dev/null || { echo "the backend exited; see .run/eldercare.log"; tail -n 30 .run/eldercare.log; exit 1; }
  sleep 0.2
done

cat <<MSG

eldercare is running.
  console:   $ELDERCARE_URL/console     (admin: $ELDERCARE_ADMIN_EMAIL / $ELDERCARE_ADMIN_PASSWORD)
  operator:  $ELDERCARE_OPERATOR_EMAIL / $ELDERCARE_OPERATOR_PASSWORD (the platform: institutions, supervisors)
  API:       $ELDERCARE_URL/api/v1       OpenAPI: $ELDERCARE_URL/api/openapi.json
  carer:     $ELDERCARE_URL/carer       (the simulated carer: carer@sim.eldercare.local / simulated carer password)
  family:    $ELDERCARE_URL/family      (the demo family: family@sim.eldercare.local / simulated family password)
  desk:      $ELDERCARE_URL/desk        (the hotline desk: desk@sim.eldercare.local / simulated desk password)
  board:     $ELDERCARE_URL/console/board (offers matched to the care home count down here)
  cockpit:   $ELDERCARE_URL/cockpit     (the district's map: bureau@sim.eldercare.local / simulated bureau password)
  metrics:   $ELDERCARE_URL/metrics
  logs:      .run/eldercare.log
The simulator now provisions $RESIDENTS residents and plays their day in real
time with random incidents, next to the scripted demo (three households: a
fall at +30 s, then an SOS, smoke, a leak, abnormal vitals, a device going
offline...; a carer is dispatched to the fall and at the door four minutes
later). In a simulated district beside them, the family orders services from
the app and the desk takes calls; the orders are matched to the care home and
a second provider, whose coordinators accept most and decline some. Ctrl-C
to stop.

MSG
# The devices' broker is the one of .run/env; their credentials come from the API.
sim_mqtt="mqtt://127.0.0.1:$MQTT_PORT"
./target/release/eldercare-sim --mqtt-url "$sim_mqtt" scenario simulator/scenarios/demo.toml --provision \
  --state .run/sim-demo.json &
demo=$!
./target/release/eldercare-sim --mqtt-url "$sim_mqtt" run --provision --residents "$RESIDENTS" \
  --incident-rate "${INCIDENT_RATE:-2}" --state .run/sim-run.json &
run=$!
./target/release/eldercare-sim orders --every "${ORDERS_EVERY:-90}" &
sim="$demo $run $!"
wait $sim
