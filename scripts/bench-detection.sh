#!/usr/bin/env bash
# Detection quality: the simulator plays WEEKS weeks of RESIDENTS residents
# with random incidents (INCIDENT_RATE a day each), written as CASAS logs
# with their labels; each log is imported as the resident's history
# (`eldercare import casas`), the rule backtest replays the whole period,
# and scripts/bench-detection-score.py scores, per alert kind, incidents
# caught, median time to alert and false alarms per resident-week, as a
# markdown table.
#
#   scripts/bench-detection.sh
#   RESIDENTS=10 WEEKS=2 scripts/bench-detection.sh
#   SETTINGS='{"inactivity_hours": 5}' scripts/bench-detection.sh   # try other settings
set -euo pipefail
cd "$(dirname "$0")/.."

RESIDENTS=${RESIDENTS:-20}
WEEKS=${WEEKS:-4}
INCIDENT_RATE=${INCIDENT_RATE:-0.6}
# Ordinary days that fool rules: a nap of two to three hours, an afternoon
# out of two to four hours that nobody switched to "away".
LONG_NAPS=${LONG_NAPS:-0.3}
LONG_OUTINGS=${LONG_OUTINGS:-0.3}
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
"$sim" --seed "$SEED" casas --residents "$RESIDENTS" --from "$from" --duration "$((WEEKS * 7))d" \
  --incident-rate "$INCIDENT_RATE" --long-naps "$LONG_NAPS" --long-outings "$LONG_OUTINGS" --out "$work" >/dev/null

admin_login

python3 -c "
import json, sys
for r in json.load(open('$work/residents.json')):
    print(r['key'], r['timezone'], json.dumps(r['meal_windows'], separators=(',', ':')), r['name'].replace(' ', '_'))
" | while read -r key tz meals name; do
  rid=$(curl -fsS "${auth[@]}" "$url/api/v1/residents" -d "{\"name\": \"${name//_/ }\", \"timezone\": \"$tz\"}" | json '["id"]')
  "$bin" import casas "$work/$key.txt" --resident "$rid" --map "$work/map.toml" | tail -n 1 > "$work/$key.import"
  curl -fsS "${auth[@]}" "$url/api/v1/residents/$rid/backtest" -o "$work/$key.backtest.json" \
    -d "{\"from\": \"$from\", \"to\": \"$end\", \"meal_windows\": $meals, \"settings\": $SETTINGS}"
done

echo "$RESIDENTS residents x $WEEKS weeks, seed $SEED, $INCIDENT_RATE incidents a day each," \
  "long naps $LONG_NAPS and afternoons out $LONG_OUTINGS of the days they nap or go out; imported:"
cat "$work"/*.import | python3 -c "
import re, sys
t = [list(map(int, re.findall(r'\d+', l))) for l in sys.stdin]
print(f'{sum(x[0] for x in t)} events, {sum(x[1] for x in t)} readings; unreadable lines: {sum(x[2] for x in t)}')"
python3 scripts/bench-detection-score.py "$work" "$WEEKS"
