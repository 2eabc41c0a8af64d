#!/usr/bin/env bash
# Family summary benchmark: a resident's day (GET /residents/{id}/summary)
# over a busy home: a motion event a minute from six sensors, doors, bed,
# kettle and pill box, vitals every five minutes, in an institution of
# RESIDENTS residents (so the reach check and the filters have company);
# the median and the 95th percentile of RUNS requests, as the linked family
# member and as the institution's staff.
#
#   scripts/bench-summary.sh                         # release build, 50 runs
#   RUNS=100 RESIDENTS=5000 scripts/bench-summary.sh
#   ELDERCARE_BIN=target/debug/eldercare scripts/bench-summary.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-50}
RESIDENTS=${RESIDENTS:-2000}
HTTP_PORT=${HTTP_PORT:-18085}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
bench_backend eldercare_bench_summary "$HTTP_PORT"
rid=$(curl -fsS "${auth[@]}" "$url/api/v1/residents" -d '{"name": "Bench Resident", "timezone": "Asia/Shanghai"}' | json '["id"]')
for device in motion-hall:motion_sensor motion-kitchen:motion_sensor motion-bedroom:motion_sensor \
  door-front:door_sensor bed-1:bed_sensor kettle:smart_plug pills:pill_box band:wearable; do
  curl -fsS "${auth[@]}" "$url/api/v1/devices" -o /dev/null \
    -d "{\"device_id\": \"${device%%:*}\", \"resident_id\": \"$rid\", \"kind\": \"${device##*:}\", \"room\": \"${device%%:*}\"}"
done
family=$(curl -fsS "${auth[@]}" "$url/api/v1/users" \
  -d '{"email": "daughter@bench.local", "password": "bench-family-password", "role": "family", "name": "Daughter"}' | json '["id"]')
curl -fsS "${auth[@]}" "$url/api/v1/residents/$rid/family" -o /dev/null \
  -d "{\"user_id\": \"$family\", \"relationship\": \"daughter\"}"
family_token=$(curl -fsS "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email": "daughter@bench.local", "password": "bench-family-password"}' | json '["token"]')

# The rest of the institution and the day are loaded directly: the benchmark
# is of reading them.
psql "$DATABASE_URL" -q <<SQL
insert into residents (id, institution_id, name, timezone)
select gen_random_uuid(), r.institution_id, 'Neighbour ' || g, 'Asia/Shanghai'
from residents r, generate_series(1, $RESIDENTS - 1) g where r.id = '$rid';
-- Enrolled where registered (on a version with enrolments).
do \$\$ begin
  if to_regclass('enrolments') is not null then
    insert into enrolments (id, resident_id, institution_id, services, origin)
    select gen_random_uuid(), r.id, r.institution_id,
           array['monitoring', 'home_care', 'meals', 'day_care', 'residential'], 'registration'
    from residents r where not exists (select 1 from enrolments e where e.resident_id = r.id);
  end if;
end \$\$;
insert into events (ts, device_id, resident_id, kind, data)
select ts, d, '$rid', 'motion', '{}'::jsonb
from generate_series(now() - interval '36 hours', now(), interval '1 minute') ts,
     unnest(array['motion-hall', 'motion-kitchen', 'motion-bedroom']) d
where extract(minute from ts)::int % 3 = array_position(array['motion-hall', 'motion-kitchen', 'motion-bedroom'], d) - 1;
insert into events (ts, device_id, resident_id, kind, data)
select ts, 'door-front', '$rid', k, '{}'::jsonb
from generate_series(now() - interval '36 hours', now(), interval '3 hours') ts, unnest(array['door_opened', 'door_closed']) k;
insert into events (ts, device_id, resident_id, kind, data)
select ts, 'kettle', '$rid', 'appliance_on', '{}'::jsonb
from generate_series(now() - interval '36 hours', now(), interval '4 hours') ts;
insert into readings (ts, device_id, resident_id, metric, value)
select ts, 'band', '$rid', m.metric, m.value
from generate_series(now() - interval '36 hours', now(), interval '5 minutes') ts,
     (values ('heart_rate', 72.0), ('spo2', 97.0)) m(metric, value);
SQL
events=$(psql "$DATABASE_URL" -tAc "select count(*) from events where resident_id = '$rid'")

percentile() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }
timed() { curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $1" "$url/api/v1/residents/$rid/summary"; }
run() {
  local times
  times=$(for _ in $(seq "$RUNS"); do timed "$1"; done)
  echo "median $(echo "$times" | percentile 0.5)s, p95 $(echo "$times" | percentile 0.95)s"
}

timed "$token" >/dev/null
echo "residents in the institution: $RESIDENTS; her events over 36 h: $events"
echo "summary as her daughter (family link): $(run "$family_token") over $RUNS requests"
echo "summary as the institution's admin (enrolment): $(run "$token") over $RUNS requests"
