#!/usr/bin/env bash
# Care services benchmark, for an institution of 2,000 residents with 8
# visits a week each:
#   - generating the coming 14 days of visits for all of them (a care plan
#     put through the API for each, 4 at a time);
#   - the month-end statement of last month (every visit completed, 1 in 20
#     unverified), JSON and CSV, 5 runs each.
#
#   scripts/bench-care.sh                     # 2,000 residents, release build
#   RESIDENTS=500 PROFILE=debug scripts/bench-care.sh
#
# Needs the services of scripts/services.sh (started here if .run/env is
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."

RESIDENTS=${RESIDENTS:-2000}
HTTP_PORT=${HTTP_PORT:-18083}
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-5}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench_care "$HTTP_PORT"

build_backend "$PROFILE"
start_backend "$bin/eldercare" .run/bench-care-serve.log
api="http://$HTTP_ADDR/api/v1"
token=$(curl -fsS "$api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ELDERCARE_ADMIN_EMAIL\",\"password\":\"$ELDERCARE_ADMIN_PASSWORD\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
auth=(-H "authorization: Bearer $token" -H 'content-type: application/json')

curl -fsS "${auth[@]}" "$api/services" -o /dev/null -d '{"code":"HC-BATH","name":"Bathing assistance",
  "category":"personal_care","duration_minutes":60,"unit":"hour","unit_price":80,"funding":["ltc_insurance"],
  "tasks":[{"code":"bath","name":"Assisted shower"}]}'
psql "$DATABASE_URL" -q <<SQL
insert into residents (id, institution_id, name, timezone, address, lat, lon)
select gen_random_uuid(), (select id from institutions limit 1), 'Resident ' || g, 'Asia/Shanghai',
       g || ' Moon Lake Lane', 29.86 + g * 0.00001, 121.54
from generate_series(1, $RESIDENTS) g;
-- Registered residents are enrolled where they were registered.
insert into enrolments (id, resident_id, institution_id, services, origin)
select gen_random_uuid(), r.id, r.institution_id, array['monitoring', 'home_care', 'meals', 'day_care', 'residential'],
       'registration'
from residents r where not exists (select 1 from enrolments e where e.resident_id = r.id);
SQL

# 8 visits a week: every day at 09:00, and Mondays at 15:00 too.
plan='{"items":[{"service_code":"HC-BATH","funding":"ltc_insurance","schedule":{"days":["mon","tue","wed","thu","fri","sat","sun"],"start":"09:00"},"hours_per_month":40},
  {"service_code":"HC-BATH","funding":"ltc_insurance","schedule":{"days":["mon"],"start":"15:00"}}]}'
psql "$DATABASE_URL" -tAc "select id from residents" > .run/bench-care-residents
start=$(date +%s.%N)
xargs -P 4 -I{} curl -fsS -o /dev/null -X PUT "${auth[@]}" "$api/residents/{}/care-plan" -d "$plan" \
  < .run/bench-care-residents
end=$(date +%s.%N)
generated=$(psql "$DATABASE_URL" -tAc "select count(*) from visits where origin = 'plan'")
echo "14 days of visits for $RESIDENTS residents: $generated visits in $(echo "$end - $start" | bc) s (PUT care-plan, 4 at a time)"

# Last month, delivered: each plan slot completed, 58 minutes at the door.
month=$(psql "$DATABASE_URL" -tAc "select to_char(date_trunc('month', now() at time zone 'Asia/Shanghai') - interval '1 month', 'YYYY-MM')")
psql "$DATABASE_URL" -q <<SQL
with days as (
    select d::date as day from generate_series(date '$month-01', date '$month-01' + interval '1 month' - interval '1 day',
                                               interval '1 day') d
), slots as (
    select day + time '09:00' as local from days
    union all select day + time '15:00' from days where extract(isodow from day) = 1
)
insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                    check_in_at, check_in, check_out_at, check_out, exceptions, verified)
select gen_random_uuid(), r.institution_id, r.id, s.id, 'ltc_insurance', 'plan', 'completed', t.at,
       t.at + interval '3 minutes',
       jsonb_build_object('lat', r.lat, 'lon', r.lon, 'accuracy_m', 10, 'method', 'gps', 'distance_m', 8.5,
                          'received_at', t.at + interval '3 minutes'),
       t.at + interval '61 minutes',
       jsonb_build_object('lat', r.lat, 'lon', r.lon, 'accuracy_m', 10, 'method', 'gps', 'distance_m', 8.5,
                          'received_at', t.at + interval '61 minutes'),
       e.exceptions, cardinality(e.exceptions) = 0
from residents r cross join services s
cross join lateral (select slots.local at time zone r.timezone as at from slots) t
cross join lateral (select case when random() < 0.05 and t.at is not null then '{late_start}'::text[] else '{}' end as exceptions) e
where s.code = 'HC-BATH';
analyze visits;
SQL
delivered=$(psql "$DATABASE_URL" -tAc "select count(*) from visits where status = 'completed'")
echo "statement of $month over $delivered completed visits:"
for format in json csv; do
  times=()
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(curl -fsS -o .run/bench-care-statement.$format -w '%{time_total}' "${auth[@]}" \
      "$api/statements?month=$month&funding=ltc_insurance&format=$format")")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  echo "  $format: ${sorted}s ($(wc -c < .run/bench-care-statement.$format) bytes)"
done
