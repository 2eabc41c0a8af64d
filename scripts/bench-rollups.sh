#!/usr/bin/env bash
# Long-range reads benchmark: a year of one resident's vitals at one reading
# a minute (heart rate and SpO2, ~525,600 readings each, inserted with
# generate_series), then GET /api/v1/residents/{id}/readings over the year
# with bucket=1d (and a month with bucket=1h), read from raw readings
# (ELDERCARE__READS__ROLLUPS=false, the diagnostic switch) and from the
# rollup (the default). Prints the median and p90 of REQUESTS requests each,
# and how long the scheduler took to roll the year up the first time.
#
#   scripts/bench-rollups.sh                  # debug build, 15 requests each
#   PROFILE=release REQUESTS=30 scripts/bench-rollups.sh
#
# Uses the PostgreSQL and Mosquitto of scripts/services.sh (started by it
# when .run/env is missing) and a database of its own, recreated each run.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-15}
HTTP_PORT=${HTTP_PORT:-18087}
PROFILE=${PROFILE:-debug}
NAME=eldercare_bench_rollups

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend "$NAME" "$HTTP_PORT"
# The leader rolls up every second here, so the wait below is the work.
export ELDERCARE__READS__ROLLUP_EVERY_SECS=1 ELDERCARE__SCHEDULER__TICK_MS=200
build_backend "$PROFILE"
bin=$bin/eldercare
log=.run/bench-rollups-serve.log

api=http://$HTTP_ADDR/api/v1
login() {
  curl -fsS "$api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\": \"$ELDERCARE_ADMIN_EMAIL\", \"password\": \"$ELDERCARE_ADMIN_PASSWORD\"}" |
    sed -E 's/.*"token":"([^"]+)".*/\1/'
}

start_backend "$bin" "$log"
path=$(psql "$DATABASE_URL" -tAc "select case relkind when 'r' then 'plain PostgreSQL (rollup table)' else 'TimescaleDB (continuous aggregate)' end
                                   from pg_class where oid = to_regclass('readings_hourly')")
token=$(login)
rid=$(curl -fsS "$api/residents" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name": "Bench Resident", "timezone": "Europe/Berlin", "room": "1"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')

echo "seeding: a year of heart rate and SpO2 at one reading a minute for resident $rid"
seed_start=$(date +%s.%N)
for metric in heart_rate spo2; do
  psql "$DATABASE_URL" -q -v rid="$rid" -v metric="$metric" <<'SQL'
insert into readings (ts, device_id, resident_id, metric, value)
select t, 'bench-watch', :'rid', :'metric',
       case :'metric' when 'heart_rate' then 70 + 15 * sin(extract(epoch from t) / 5400.0) + random() * 8
                      else 93 + random() * 5 end
from generate_series(date_bin('1 minute', now() - interval '365 days', timestamptz '2000-01-01 00:00:00+00'),
                     now(), interval '1 minute') as t;
SQL
done
seed_end=$(date +%s.%N)
psql "$DATABASE_URL" -tAc "select 'readings: ' || count(*) from readings"
printf 'seeded in %.1f s\n' "$(echo "$seed_end - $seed_start" | bc)"

# Plain path: wait until the leader has rolled the year up and consumed the
# hours' marks (TimescaleDB: setup materialized what it found; its policy
# takes it from there, and real-time aggregation covers the rest).
if [[ $path == plain* ]]; then
  for _ in $(seq 1 3000); do
    done_=$(psql "$DATABASE_URL" -tAc "select coalesce((select rolled_until >= date_bin('1 hour', now(), '2000-01-01')
                                        from rollup_state), false) and not exists (select 1 from rollup_dirty)")
    [ "$done_" = t ] && break
    sleep 0.2
  done
  rolled_end=$(date +%s.%N)
  printf 'rolled up by the leader %.1f s after seeding (%s hourly rows)\n' "$(echo "$rolled_end - $seed_end" | bc)" \
    "$(psql "$DATABASE_URL" -tAc 'select count(*) from readings_hourly')"
fi

to=$(date -u +%Y-%m-%dT%H:%M:%SZ)
year_from=$(date -u -d '365 days ago' +%Y-%m-%dT%H:%M:%SZ)
month_from=$(date -u -d '30 days ago' +%Y-%m-%dT%H:%M:%SZ)
year="$api/residents/$rid/readings?metric=heart_rate&from=$year_from&to=$to&bucket=1d"
month="$api/residents/$rid/readings?metric=heart_rate&from=$month_from&to=$to&bucket=1h"

measure() {
  local what=$1 url=$2 times=()
  curl -fsS -o /dev/null -H "authorization: Bearer $token" "$url"  # warm
  for _ in $(seq 1 "$REQUESTS"); do
    times+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "authorization: Bearer $token" "$url")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v what="$what" '
    { t[NR] = $1 * 1000 }
    END { printf "%-44s median %8.1f ms   p90 %8.1f ms   (%d requests)\n",
          what, t[int((NR + 1) / 2)], t[int(NR * 0.9 + 0.5)], NR }'
}
answer() { curl -fsS -H "authorization: Bearer $token" "$1" | sed -E 's/"avg":[0-9.e+-]+,//g'; }

echo "path: $path, $PROFILE build"
with_year=$(answer "$year")
with_month=$(answer "$month")
measure "rollup: 365 days, bucket=1d" "$year"
measure "rollup: 30 days, bucket=1h" "$month"
stop_backend
trap - EXIT

export ELDERCARE__READS__ROLLUPS=false
start_backend "$bin" "$log"
token=$(login)
measure "raw (reads.rollups=false): 365 days, 1d" "$year"
measure "raw (reads.rollups=false): 30 days, 1h" "$month"
# Counts, minima and maxima must be the same either way (averages differ in
# the last bits of rounding, so they are left out of the comparison).
if [ "$(answer "$year")" = "$with_year" ] && [ "$(answer "$month")" = "$with_month" ]; then
  echo "answers: the same from the rollup and from raw readings (counts, min, max)"
else
  echo "answers DIFFER between the rollup and raw readings"; exit 1
fi
