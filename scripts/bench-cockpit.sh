#!/usr/bin/env bash
# Cockpit benchmark: a supervisor's cockpit (with the daily series) for a
# region of 20 institutions, 20,000 residents, 40,000 devices and a month of
# alerts (300,000 by default) and visits (160,000), and one institution's
# admin view; the /metrics scrape with its answering gauges. Target: under
# 500 ms.
#
#   scripts/bench-cockpit.sh                 # 30 days, 0.5 alerts per resident and day, 20 requests each
#   DAYS=30 PER_DAY=1 REQUESTS=50 scripts/bench-cockpit.sh
#   PROFILE=debug scripts/bench-cockpit.sh   # the debug build (the figures are SQL's either way)
#
# The district cockpit instead: a district of 5 streets, 60 communities and
# 240 grids with 50,000 elders, a year of requests, claims and complaints
# (scripts/bench-district.sql), and GET /api/v1/cockpit/district for the
# bureau of the district and of one street. Target: under 500 ms.
#
#   scripts/bench-cockpit.sh district
#   ELDERS=50000 REQUESTS=100 PROFILE=debug scripts/bench-cockpit.sh district
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-cockpit}
case $MODE in
  cockpit | district) ;;
  *) echo "usage: $0 [cockpit|district]"; exit 2 ;;
esac
ELDERS=${ELDERS:-50000}

DAYS=${DAYS:-30}
PER_DAY=${PER_DAY:-0.5}
VISITS=${VISITS:-8}
REQUESTS=${REQUESTS:-20}
# The district's its own database and port, so both can run side by side.
if [ "$MODE" = district ]; then HTTP_PORT=${HTTP_PORT:-18093}; else HTTP_PORT=${HTTP_PORT:-18083}; fi
PROFILE=${PROFILE:-release}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend "eldercare_bench_$MODE" "$HTTP_PORT"
export ELDERCARE_OPERATOR_EMAIL=operator@bench.local ELDERCARE_OPERATOR_PASSWORD=bench-operator-password
build_backend "$PROFILE"
start_backend "$bin/eldercare" ".run/bench-$MODE-serve.log"

measure() {
  local what=$1 url=$2 token=${3:-}
  local times=()
  for _ in $(seq 1 "$REQUESTS"); do
    times+=("$(curl -fsS -o /dev/null -w '%{time_total}' ${token:+-H "authorization: Bearer $token"} "$url")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v what="$what" '
    function at(q) { i = int(NR * q + 0.999); return t[i < 1 ? 1 : i] }
    { t[NR] = $1 * 1000 }
    END { printf "%-48s p50 %6.1f ms   p90 %6.1f ms   p99 %6.1f ms   max %6.1f ms   (%d requests)\n",
          what, at(0.5), at(0.9), at(0.99), t[NR], NR }'
}

api=http://$HTTP_ADDR/api/v1
login() {
  curl -fsS "$api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$2\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/'
}

if [ "$MODE" = district ]; then
  echo "seeding: a district of 5 streets, 60 communities, 240 grids and $ELDERS elders"
  psql "$DATABASE_URL" -q -v elders="$ELDERS" -v requests=$((ELDERS * 3 / 5)) -v claim_lines=$((ELDERS * 2)) \
    -f scripts/bench-district.sql
  psql "$DATABASE_URL" -tAc "select 'elders: ' || (select count(*) from residents where division like '330205%')
    || ', requests: ' || (select count(*) from service_requests) || ', claim lines: ' || (select count(*) from claim_lines)
    || ', complaints: ' || (select count(*) from complaints)"
  operator=$(login "$ELDERCARE_OPERATOR_EMAIL" "$ELDERCARE_OPERATOR_PASSWORD")
  for division in 330205 330205001; do
    curl -fsS "$api/users" -H "authorization: Bearer $operator" -H 'content-type: application/json' \
      -d "{\"email\": \"bureau-$division@bench.local\", \"password\": \"bench-bureau-password\", \"name\": \"Bench\",
           \"role\": \"civil_affairs\", \"division\": \"$division\"}" >/dev/null
  done
  district=$(login bureau-330205@bench.local bench-bureau-password)
  street=$(login bureau-330205001@bench.local bench-bureau-password)
  measure "district: 5 streets, $ELDERS elders" "$api/cockpit/district" "$district"
  measure "street: 12 communities" "$api/cockpit/district" "$street"
  exit 0
fi

echo "seeding: 20 institutions, 20,000 residents, $DAYS days of alerts at $PER_DAY per resident and day"
psql "$DATABASE_URL" -q -v days="$DAYS" -v per_day="$PER_DAY" -v visits="$VISITS" -f scripts/bench-cockpit.sql
psql "$DATABASE_URL" -tAc "select 'alerts: ' || (select count(*) from alerts) || ', visits: ' || (select count(*) from visits)"

operator=$(login "$ELDERCARE_OPERATOR_EMAIL" "$ELDERCARE_OPERATOR_PASSWORD")
curl -fsS "$api/supervisors" -H "authorization: Bearer $operator" -H 'content-type: application/json' \
  -d '{"email": "supervisor@bench.local", "password": "bench-supervisor-pw", "name": "Bench", "region": "Bench"}' >/dev/null
supervisor=$(login supervisor@bench.local bench-supervisor-pw)
# One of the region's institutions gets an admin, for the single-institution view.
bench_home=$(psql "$DATABASE_URL" -tAc "select id from institutions where region = 'Bench' order by name limit 1")
curl -fsS "$api/institutions/$bench_home/users" -H "authorization: Bearer $operator" -H 'content-type: application/json' \
  -d '{"email": "admin@bench.local", "password": "bench-admin-password", "name": "Bench admin", "role": "admin"}' >/dev/null
admin=$(login admin@bench.local bench-admin-password)

measure "supervisor, 20 institutions, 30 days" "$api/cockpit" "$supervisor"
measure "supervisor, 20 institutions, 30 days, by day" "$api/cockpit?series=day" "$supervisor"
measure "admin, 1 institution, 30 days, by day" "$api/cockpit?series=day" "$admin"
measure "supervisor, CSV report" "$api/cockpit?format=csv" "$supervisor"
measure "/metrics (answering gauges of 21 institutions)" "http://$HTTP_ADDR/metrics"
