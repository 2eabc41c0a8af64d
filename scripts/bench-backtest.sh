#!/usr/bin/env bash
# Rule backtest benchmark: one resident with 90 days of history loaded
# directly (a wearable's heart rate and SpO2 every minute, about 260,000
# readings; motion, kitchen stays, bed and entrance-door events at a home's
# everyday rate, about 13,000 events; racing-heart afternoons, quiet
# spells and nights out), then the time of POST /api/v1/residents/{id}/backtest over
# those 90 days (the median of RUNS), with what it found.
#
#   scripts/bench-backtest.sh                   # release build, 5 runs
#   RUNS=3 DAYS=30 scripts/bench-backtest.sh
#   ELDERCARE_BIN=target/debug/eldercare scripts/bench-backtest.sh   # the debug build
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DAYS=${DAYS:-90}
HTTP_PORT=${HTTP_PORT:-18196}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
bench_backend eldercare_bench_backtest "$HTTP_PORT"
bench_resident
for device in "bench-watch wearable bedroom" "bench-kitchen motion_sensor kitchen" \
  "bench-living motion_sensor living_room" "bench-bed bed_sensor bedroom" "bench-door door_sensor hall"; do
  read -r id kind room <<<"$device"
  curl -fsS "${auth[@]}" "$url/api/v1/devices" -o /dev/null \
    -d "{\"device_id\": \"$id\", \"resident_id\": \"$rid\", \"kind\": \"$kind\", \"room\": \"$room\"}"
done

# The history is loaded directly (the live path refuses data older than 30
# days): the benchmark is of replaying it. Two more days than the window,
# for the rules' look-back.
hour=$(date -u +%s)
hour=$((hour - hour % 3600))
to=$(date -u -d "@$hour" +%Y-%m-%dT%H:%M:%SZ)
from=$(date -u -d "@$((hour - DAYS * 86400))" +%Y-%m-%dT%H:%M:%SZ)
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<SQL
insert into readings (ts, device_id, resident_id, metric, value)
select ts, 'bench-watch', '$rid', m.metric,
       case when m.metric = 'heart_rate' and extract(doy from ts)::int % 9 = 0 and extract(hour from ts) = 15
            then 150 else m.base + random() * m.spread end
from generate_series(timestamptz '$from' - interval '2 days', timestamptz '$to' - interval '1 minute',
                     interval '1 minute') ts,
     (values ('heart_rate', 62.0, 20.0), ('spo2', 94.0, 4.0)) m(metric, base, spread);

-- Movement every few minutes while awake, quieter some afternoons.
insert into events (ts, device_id, resident_id, kind, data)
select ts, case when random() < 0.3 then 'bench-kitchen' else 'bench-living' end, '$rid', 'motion', '{}'
from generate_series(timestamptz '$from' - interval '2 days', timestamptz '$to' - interval '1 minute',
                     interval '4 minutes') ts
where extract(hour from ts) between 7 and 21 and random() < 0.6
  and not (extract(doy from ts)::int % 7 = 0 and extract(hour from ts) between 13 and 16);
-- Meals: a stay in the kitchen, except a lunch now and then.
insert into events (ts, device_id, resident_id, kind, data)
select d + meal + stay, 'bench-kitchen', '$rid', 'motion', '{}'
from generate_series(date_trunc('day', timestamptz '$from') - interval '2 days', timestamptz '$to' - interval '1 day',
                     interval '1 day') d,
     (values (interval '7 hours 40 minutes'), (interval '12 hours 10 minutes'), (interval '18 hours')) meals(meal),
     (values (interval '0 minutes'), (interval '5 minutes')) stays(stay)
where not (meal = interval '12 hours 10 minutes' and extract(doy from d)::int % 11 = 0)
on conflict do nothing;
-- Bed at night, and the entrance door by day (and one night in thirteen).
insert into events (ts, device_id, resident_id, kind, data)
select d + at, device, '$rid'::uuid, kind, data::jsonb
from generate_series(date_trunc('day', timestamptz '$from') - interval '2 days', timestamptz '$to' - interval '1 day',
                     interval '1 day') d,
     (values (interval '6 hours 45 minutes', 'bench-bed', 'bed_exit', '{}'),
             (interval '22 hours', 'bench-bed', 'bed_enter', '{}'),
             (interval '10 hours', 'bench-door', 'door_opened', '{"door": "entrance"}'),
             (interval '10 hours 1 minute', 'bench-door', 'door_closed', '{"door": "entrance"}'),
             (interval '16 hours', 'bench-door', 'door_opened', '{"door": "entrance"}'),
             (interval '16 hours 1 minute', 'bench-door', 'door_closed', '{"door": "entrance"}')) e(at, device, kind, data)
union all
select d + interval '2 hours', 'bench-door', '$rid', 'door_opened', '{"door": "entrance"}'::jsonb
from generate_series(date_trunc('day', timestamptz '$from'), timestamptz '$to' - interval '1 day', interval '13 days') d
on conflict do nothing;
analyze readings;
analyze events;
SQL
readings=$(psql "$DATABASE_URL" -tAc "select count(*) from readings where resident_id = '$rid'")
events=$(psql "$DATABASE_URL" -tAc "select count(*) from events where resident_id = '$rid'")

body="{\"from\": \"$from\", \"to\": \"$to\"}"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { curl -fsS -o /dev/null -w '%{time_total}\n' "${auth[@]}" "$url/api/v1/residents/$rid/backtest" -d "$body"; }
took=$(for _ in $(seq "$RUNS"); do timed; done | median)
found=$(curl -fsS "${auth[@]}" "$url/api/v1/residents/$rid/backtest" -d "$body" | json '["by_kind"]')

echo "history: $readings readings, $events events over $DAYS days (and 2 days of look-back)"
echo "backtest found: $found"
echo "POST /api/v1/residents/{id}/backtest over $DAYS days: ${took}s (median of $RUNS, $bin)"
