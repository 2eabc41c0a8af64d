#!/usr/bin/env bash
# Records benchmark, SQL only (no build): how long the migration that
# re-chains the audit trail over salted digests takes on a trail of ENTRIES
# existing entries, and what one access-log insert (a health-data read's
# record) costs.
#
#   source .run/env && scripts/bench-records.sh             # 100,000 entries
#   ENTRIES=1000000 scripts/bench-records.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ENTRIES=${ENTRIES:-100000}
READS=${READS:-10000}
: "${DATABASE_URL:?source .run/env first}"
db="eldercare_bench_records_$$"
admin_url=$DATABASE_URL
url="${DATABASE_URL%/*}/$db"
psql -q "$admin_url" -c "create database $db"
trap 'psql -q "$admin_url" -c "drop database if exists $db" >/dev/null' EXIT

for f in migrations/*.sql; do
  [[ $(basename "$f") < 20261130000060 ]] || continue
  psql -q -v ON_ERROR_STOP=1 -1 "$url" -f "$f" >/dev/null
done
psql -q -v ON_ERROR_STOP=1 "$url" <<SQL >/dev/null
insert into institutions (id, name, timezone, kind)
select gen_random_uuid(), 'Home ' || n, 'UTC', 'care_home' from generate_series(1, 10) n;
insert into audit_log (institution_id, at, action, entity, entity_id, details, record, hash)
select (select id from institutions order by id offset (n % 10) limit 1),
       now() - make_interval(secs => $ENTRIES - n), 'resident.updated', 'resident', gen_random_uuid()::text,
       jsonb_build_object('name', 'Resident ' || n, 'notes', repeat('x', 80)), 'old', '\x00'
from generate_series(1, $ENTRIES) n;
SQL
start=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 -1 "$url" -f migrations/20261130000060_records.sql >/dev/null
end=$(date +%s.%N)
printf 're-chaining %d audit entries (10 chains): %.2f s\n' "$ENTRIES" "$(echo "$end - $start" | bc)"

psql -q -v ON_ERROR_STOP=1 "$url" <<SQL >/dev/null
insert into residents (id, institution_id, name, timezone)
select gen_random_uuid(), id, 'R', 'UTC' from institutions;
-- Registered residents are enrolled where they were registered.
insert into enrolments (id, resident_id, institution_id, services, origin)
select gen_random_uuid(), r.id, r.institution_id, array['monitoring', 'home_care', 'meals', 'day_care', 'residential'],
       'registration'
from residents r where not exists (select 1 from enrolments e where e.resident_id = r.id);
insert into users (id, institution_id, email, name, role, password_hash)
select gen_random_uuid(), id, 'u' || id || '@x', 'U', 'staff', 'x' from institutions limit 1;
SQL
start=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL
select set_config('bench.user', (select id::text from users limit 1), false);
select set_config('bench.resident', (select id::text from residents limit 1), false);
do \$\$
begin
  for i in 1..$READS loop
    insert into access_log (institution_id, user_id, role, kind, resident_id)
    select institution_id, current_setting('bench.user')::uuid, 'staff', 'readings', id
    from residents where id = current_setting('bench.resident')::uuid;
  end loop;
end \$\$;
SQL
end=$(date +%s.%N)
printf 'access log: %d inserts in %.2f s (%.1f µs each, in one session)\n' "$READS" \
  "$(echo "$end - $start" | bc)" "$(echo "($end - $start) * 1000000 / $READS" | bc -l)"
