#!/usr/bin/env bash
# Detection quality: the simulator plays WEEKS weeks of RESIDENTS residents
# with random incidents (INCIDENT_RATE a day each) and ordinary days that
# fool rules, written as CASAS logs with their labels; each log is imported
# as the resident's history (`eldercare import casas`), the holidays the
# family recorded are recorded as the resident status "away" (PUT
# /residents/{id}/status, backdated: the API takes up to 30 days back, so
# with WEEKS > 4 the older ones stay unrecorded and are scored so), the rule
# backtest replays the whole period, and scripts/bench-detection-score.py
# scores, per alert kind, incidents caught, median time to alert, false
# alarms per resident-week and what fooled the rules, as markdown tables.
#
#   scripts/bench-detection.sh
#   RESIDENTS=10 WEEKS=2 scripts/bench-detection.sh
#   SETTINGS='{"inactivity": {"hours": 5}}' scripts/bench-detection.sh   # try other settings
set -euo pipefail
cd "$(dirname "$0")/.."

RESIDENTS=${RESIDENTS:-20}
WEEKS=${WEEKS:-4}
INCIDENT_RATE=${INCIDENT_RATE:-0.6}
# Ordinary days that fool rules: a nap of two to three hours, an afternoon
# out of two to four hours that nobody switched to "away" (the old
# afternoon walk: only with OUTINGS=0).
LONG_NAPS=${LONG_NAPS:-0.3}
LONG_OUTINGS=${LONG_OUTINGS:-0.3}
# Irregular outings on this mean share of days (each resident's habit within
# 0.2 of it): once or twice, leaving 08:30-16:00 for one to six hours, lunch
# eaten out when one spans it, nobody recording "away". 0: the old walk.
OUTINGS=${OUTINGS:-0.7}
# Days of cold food (brief kitchen visits, no cooking), days whose rising and
# bedtime shift by one to two hours, per day.
SKIPPED_COOKING=${SKIPPED_COOKING:-0.15}
SHIFTED_SLEEP=${SHIFTED_SLEEP:-0.2}
# A visitor for the afternoon or the evening (leaving as late as 23:00), on
# this share of days; LATE_VISITORS of the visits are evenings staying to
# 22:45-23:30.
VISITORS=${VISITORS:-0.15}
LATE_VISITORS=${LATE_VISITORS:-0.3}
# The living room unused two to six days (she sits in the bedroom), per fortnight.
UNUSED_ROOMS=${UNUSED_ROOMS:-0.3}
# The share of homes with a hall motion sensor; the others have no motion-hall.
HALL_SENSORS=${HALL_SENSORS:-0.7}
# The dangerous look-alikes of going out, labelled as incidents: a collapse
# in the hall right after closing the door from inside (per day), a fall in
# the hall coming back in (per day back from an outing), not back by 22:00
# from an evening out (per day).
HALL_COLLAPSES=${HALL_COLLAPSES:-0.04}
FALLS_ON_RETURN=${FALLS_ON_RETURN:-0.06}
NOT_RETURNED=${NOT_RETURNED:-0.04}
# A holiday away (two to seven nights) in this share of fortnights, of which
# UNRECORDED_HOLIDAYS nobody records as "away".
HOLIDAYS=${HOLIDAYS:-0.3}
UNRECORDED_HOLIDAYS=${UNRECORDED_HOLIDAYS:-0.2}
# A kettle unused for three to ten days, meals going on, in this share of fortnights.
STOPPED_KETTLES=${STOPPED_KETTLES:-0.25}
# Incidents no device reports: a motion sensor dead for two to seven days
# (per fortnight), a long lie on the floor with no alarm (per day).
SENSOR_DEATHS=${SENSOR_DEATHS:-0.25}
LONG_LIES=${LONG_LIES:-0.02}
# Days of history before the scored window, as a resident who has lived with
# the sensors for a while has: what her routine is learned from (the rules
# use it once a week is learned). Not scored.
WARMUP_DAYS=${WARMUP_DAYS:-28}
SEED=${SEED:-42}
SETTINGS=${SETTINGS:-null}
HTTP_PORT=${HTTP_PORT:-18197}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench_detection "$HTTP_PORT"
bin=${ELDERCARE_BIN:-target/debug/eldercare}
sim=${ELDERCARE_SIM_BIN:-target/debug/eldercare-sim}
[ -n "${ELDERCARE_BIN:-}" ] || cargo build -q -p eldercare -p eldercare-sim
start_backend "$bin" .run/bench-detection-serve.log

work=.run/bench-detection
rm -rf "$work" && mkdir -p "$work"
# Whole days, ending at today's midnight (UTC): history, replayed by the backtest.
end=$(date -u +%Y-%m-%dT00:00:00Z)
from=$(date -u -d "$end - $((WEEKS * 7)) days" +%Y-%m-%dT%H:%M:%SZ)
# The simulated days start WARMUP_DAYS and the scheduler's look-back (36 h)
# before the window, as a live home's would: a window that opened on an
# empty house would report every first breakfast missed, and her routine is
# learned from the weeks before. Incidents in them are not scored.
warm=$(date -u -d "$from - $WARMUP_DAYS days - 36 hours" +%Y-%m-%dT%H:%M:%SZ)
"$sim" --seed "$SEED" casas --residents "$RESIDENTS" --from "$warm" --duration "$((WEEKS * 7 + WARMUP_DAYS))d36h" \
  --incident-rate "$INCIDENT_RATE" --long-naps "$LONG_NAPS" --long-outings "$LONG_OUTINGS" \
  --visitors "$VISITORS" --holidays "$HOLIDAYS" --unrecorded-holidays "$UNRECORDED_HOLIDAYS" \
  --stopped-kettles "$STOPPED_KETTLES" --sensor-deaths "$SENSOR_DEATHS" --long-lies "$LONG_LIES" \
  --outings "$OUTINGS" --skipped-cooking "$SKIPPED_COOKING" --shifted-sleep "$SHIFTED_SLEEP" \
  --late-visitors "$LATE_VISITORS" --unused-rooms "$UNUSED_ROOMS" --hall-sensors "$HALL_SENSORS" \
  --hall-collapses "$HALL_COLLAPSES" --falls-on-return "$FALLS_ON_RETURN" --not-returned "$NOT_RETURNED" \
  --out "$work" >/dev/null

admin_login

python3 -c "
import json, sys
for r in json.load(open('$work/residents.json')):
    print(r['key'], r['timezone'], json.dumps(r['meal_windows'], separators=(',', ':')), r['name'].replace(' ', '_'))
" | while read -r key tz meals name; do
  rid=$(curl -fsS "${auth[@]}" "$url/api/v1/residents" -d "{\"name\": \"${name//_/ }\", \"timezone\": \"$tz\"}" | json '["id"]')
  "$bin" import casas "$work/$key.txt" --resident "$rid" --map "$work/map.toml" | tail -n 1 > "$work/$key.import"
  # The holidays the family recorded, as the resident status "away".
  python3 -c "
import json
for l in json.load(open('$work/labels.json')):
    if l['resident'] == '$key' and l['kind'] == 'holiday' and l.get('recorded'):
        print(l['start'], l['end'])
" | while read -r start until; do
    code=$(curl -sS "${auth[@]}" -X PUT "$url/api/v1/residents/$rid/status" -o "$work/$key.status.json" -w '%{http_code}' \
      -d "{\"status\": \"away\", \"from\": \"$start\", \"until\": \"$until\", \"note\": \"holiday\"}")
    if [ "$code" = 200 ]; then echo "{\"resident\": \"$key\", \"start\": \"$start\"}" >> "$work/recorded.jsonl"; fi
  done
  curl -fsS "${auth[@]}" "$url/api/v1/residents/$rid/backtest" -o "$work/$key.backtest.json" \
    -d "{\"from\": \"$from\", \"to\": \"$end\", \"meal_windows\": $meals, \"settings\": $SETTINGS}"
done

python3 -c "
import json, sys
print(json.dumps([json.loads(l) for l in open(sys.argv[1])] if __import__('os').path.exists(sys.argv[1]) else []))
" "$work/recorded.jsonl" > "$work/recorded.json"

echo "$RESIDENTS residents x $WEEKS weeks, seed $SEED, $INCIDENT_RATE incidents a day each," \
  "long naps $LONG_NAPS and afternoons out $LONG_OUTINGS of the days they nap or go out," \
  "visitors $VISITORS of days, holidays $HOLIDAYS of fortnights ($UNRECORDED_HOLIDAYS unrecorded)," \
  "stopped kettles $STOPPED_KETTLES and dead sensors $SENSOR_DEATHS of fortnights, long lies $LONG_LIES of days;" \
  "outings $OUTINGS of days, cold food $SKIPPED_COOKING and shifted sleep $SHIFTED_SLEEP of days," \
  "late visits $LATE_VISITORS of visits, living room unused $UNUSED_ROOMS of fortnights," \
  "hall sensors in $HALL_SENSORS of homes; look-alikes: hall collapses $HALL_COLLAPSES of days," \
  "falls on return $FALLS_ON_RETURN of days back from out, not returned $NOT_RETURNED of days;" \
  "settings $SETTINGS; $WARMUP_DAYS days of history before the window; imported:"
cat "$work"/*.import | python3 -c "
import re, sys
t = [list(map(int, re.findall(r'\d+', l))) for l in sys.stdin]
print(f'{sum(x[0] for x in t)} events, {sum(x[1] for x in t)} readings; unreadable lines: {sum(x[2] for x in t)}')"
python3 scripts/bench-detection-score.py "$work" "$WEEKS" "$from"
