#!/usr/bin/env bash
# FHIR view benchmark: one resident with a week of vitals every five minutes
# (heart rate, SpO2, blood pressure: 6,048 Observations), then the time of
# Patient/$everything over that week, of paging through every Observation
# with _count=1000, and of an Observation read by id (each the median of
# RUNS).
#
#   scripts/bench-fhir.sh                       # release build, 5 runs
#   RUNS=10 DAYS=3 scripts/bench-fhir.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DAYS=${DAYS:-7}
HTTP_PORT=${HTTP_PORT:-18084}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
bench_backend eldercare_bench_fhir "$HTTP_PORT"
bench_resident
curl -fsS "${auth[@]}" "$url/api/v1/devices" -o /dev/null \
  -d "{\"device_id\": \"bench-cuff\", \"resident_id\": \"$rid\", \"kind\": \"wearable\"}"

# The history is loaded directly: the benchmark is of reading it.
psql "$DATABASE_URL" -qc "
  insert into readings (ts, device_id, resident_id, metric, value)
  select ts, 'bench-cuff', '$rid', m.metric, m.value
  from generate_series(now() - interval '$DAYS days', now() - interval '1 minute', interval '5 minutes') ts,
       (values ('heart_rate', 72.0), ('spo2', 97.0), ('bp_systolic', 128.0), ('bp_diastolic', 81.0)) m(metric, value)"
readings=$(psql "$DATABASE_URL" -tAc "select count(*) from readings where resident_id = '$rid'")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { curl -fsS -o /dev/null -w '%{time_total}\n' "${auth[@]}" "$1"; }

start=$(date -u -d "$DAYS days ago" +%Y-%m-%dT%H:%M:%SZ)
everything=$(for _ in $(seq "$RUNS"); do timed "$url/fhir/r4/Patient/$rid/\$everything?start=$start"; done | median)
entries=$(curl -fsS "${auth[@]}" "$url/fhir/r4/Patient/$rid/\$everything?start=$start" | json '["total"]')

page_all() {
  local next="$url/fhir/r4/Observation?patient=$rid&_count=1000" pages=0
  while [ -n "$next" ]; do
    next=$(curl -fsS "${auth[@]}" "$next" | python3 -c '
import json, sys
links = [l["url"] for l in json.load(sys.stdin).get("link", []) if l["relation"] == "next"]
print(links[0] if links else "")')
    pages=$((pages + 1))
  done
  echo "$pages"
}
pages=$(page_all)
paging=$(for _ in $(seq "$RUNS"); do
  s=$(date +%s.%N); page_all >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc
done | median)

oid=$(curl -fsS "${auth[@]}" "$url/fhir/r4/Observation?patient=$rid&_count=1" | json '["entry"][0]["resource"]["id"]')
read=$(for _ in $(seq "$RUNS"); do timed "$url/fhir/r4/Observation/$oid"; done | median)

echo "readings: $readings; \$everything entries: $entries; search pages of 1000: $pages"
echo "Patient/\$everything over $DAYS days: ${everything}s (median of $RUNS)"
echo "every Observation, paged by 1000: ${paging}s (median of $RUNS)"
echo "Observation read by id: ${read}s (median of $RUNS)"
