#!/usr/bin/env bash
# Alert latency benchmark: an SOS button publishes over MQTT and the time
# until the alert arrives on the live stream (SSE) is measured, p50/p99,
# while the simulator keeps background telemetry flowing from devices worn by
# residents (their heart rates and SpO2 judged by the vital rules meanwhile).
#
#   scripts/bench-alerts.sh                     # 300 samples, 5,000 msg/s background
#   SAMPLES=1000 BACKGROUND_RATE=8000 scripts/bench-alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLES=${SAMPLES:-300}
BACKGROUND_RATE=${BACKGROUND_RATE:-5000}
HTTP_PORT=${HTTP_PORT:-18082}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench_alerts "$HTTP_PORT"
cargo build --release -q -p eldercare -p eldercare-sim
bin=target/release
start_backend "$bin/eldercare" .run/bench-alerts-serve.log

"$bin/eldercare-sim" --mqtt-url "mqtt://127.0.0.1:$mqtt_port" latency --samples "$SAMPLES" \
  --background-rate "$BACKGROUND_RATE" --url "http://$HTTP_ADDR" --state .run/bench-alerts-sim.json \
  --admin-email "$ELDERCARE_ADMIN_EMAIL" --admin-password "$ELDERCARE_ADMIN_PASSWORD"
stored=$(psql "$DATABASE_URL" -tAc "select count(*) from readings")
echo "background readings stored during the run: $stored"
