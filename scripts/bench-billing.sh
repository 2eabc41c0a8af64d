#!/usr/bin/env bash
# Public money benchmark, for a provider of 2,000 elders on long-term care
# insurance with 30 priced visits each last month (60,000 bill lines):
#   - the month-end bills of all of them in one document (GET /bills),
#     JSON and CSV, 5 runs each;
#   - the claim of last month to the fund: 60,000 lines built in one
#     POST /claims, then read back whole (GET /claims/{id}) and exported
#     as CSV, 5 runs (each run claims afresh).
#
#   scripts/bench-billing.sh                     # 2,000 elders, release build
#   RESIDENTS=500 PROFILE=debug scripts/bench-billing.sh
#
# The bill lines are written by SQL as pricing writes them (the pricing of
# one visit is part of its verification, measured by the care benchmark's
# transactions, not here). Needs the services of scripts/services.sh
# (started here if .run/env is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

RESIDENTS=${RESIDENTS:-2000}
VISITS=${VISITS:-30}
HTTP_PORT=${HTTP_PORT:-18087}
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-5}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench_billing "$HTTP_PORT"

build_backend "$PROFILE"
start_backend "$bin/eldercare" .run/bench-billing-serve.log
api="http://$HTTP_ADDR/api/v1"
token=$(curl -fsS "$api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ELDERCARE_ADMIN_EMAIL\",\"password\":\"$ELDERCARE_ADMIN_PASSWORD\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
auth=(-H "authorization: Bearer $token" -H 'content-type: application/json')

month=$(psql "$DATABASE_URL" -tAc "select to_char(date_trunc('month', now() at time zone 'Asia/Shanghai') - interval '1 month', 'YYYY-MM')")
psql "$DATABASE_URL" -q <<SQL
insert into residents (id, institution_id, name, timezone)
select gen_random_uuid(), (select id from institutions limit 1), 'Resident ' || g, 'Asia/Shanghai'
from generate_series(1, $RESIDENTS) g;
insert into enrolments (id, resident_id, institution_id, services, origin)
select gen_random_uuid(), r.id, r.institution_id, array['monitoring', 'home_care', 'meals', 'day_care', 'residential'],
       'registration'
from residents r where not exists (select 1 from enrolments e where e.resident_id = r.id);
insert into schemes (code, name, payer, application_kind, grades)
values ('ltc-bench', 'LTC insurance', 'ltc_insurance', 'ltc_insurance',
        '{"3": {"monthly_minutes": 1800, "copay_ratio": 0.1, "services": ["home_care"], "valid_months": 12}}');
insert into entitlements (id, resident_id, scheme, payer, grade, services, monthly_minutes, copay_bp, starts_on, ends_on)
select gen_random_uuid(), r.id, 'ltc-bench', 'ltc_insurance', 3, '{home_care}', 1800, 1000,
       date '$month-01', date '$month-01' + interval '1 year'
from residents r;
-- 58 minutes at 80.00 an hour: 77.33, the fund 69.60, the elder 7.73.
insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes, amount_fen, payer,
                        entitlement_id, payer_fen, elder_fen, over_quota)
select gen_random_uuid(), r.institution_id, r.id, 'visit', gen_random_uuid(), date '$month-01' + (v % 28), date '$month-01',
       'HC-BATH', 58, 7733, 'ltc_insurance', e.id, 6960, 773, false
from residents r join entitlements e on e.resident_id = r.id cross join generate_series(1, $VISITS) v;
analyze bill_lines;
analyze entitlements;
SQL
lines=$(psql "$DATABASE_URL" -tAc "select count(*) from bill_lines")
echo "month-end bills of $month for $RESIDENTS elders ($lines lines):"
for format in json csv; do
  times=()
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(curl -fsS -o .run/bench-billing-bills.$format -w '%{time_total}' "${auth[@]}" \
      "$api/bills?month=$month&format=$format")")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  echo "  $format: ${sorted}s ($(wc -c < .run/bench-billing-bills.$format) bytes)"
done

echo "the claim of $month to the fund ($lines lines), $RUNS runs:"
build=(); read_back=(); export_csv=()
for _ in $(seq 1 "$RUNS"); do
  psql "$DATABASE_URL" -q -c "delete from claims"
  build+=("$(curl -fsS -o .run/bench-billing-claim.json -w '%{time_total}' "${auth[@]}" "$api/claims" \
    -d "{\"payer\":\"ltc_insurance\",\"month\":\"$month\"}")")
  claim=$(python3 -c "import json; print(json.load(open('.run/bench-billing-claim.json'))['id'])")
  claimed=$(python3 -c "import json; c = json.load(open('.run/bench-billing-claim.json')); print(len(c['lines']), c['total_claimed'])")
  read_back+=("$(curl -fsS -o /dev/null -w '%{time_total}' "${auth[@]}" "$api/claims/$claim")")
  export_csv+=("$(curl -fsS -o .run/bench-billing-claim.csv -w '%{time_total}' "${auth[@]}" "$api/claims/$claim?format=csv")")
done
echo "  lines and total claimed: $claimed"
echo "  POST /claims (built and answered): $(printf '%s\n' "${build[@]}" | sort -n | tr '\n' ' ')s"
echo "  GET /claims/{id}: $(printf '%s\n' "${read_back[@]}" | sort -n | tr '\n' ' ')s"
echo "  GET /claims/{id}?format=csv: $(printf '%s\n' "${export_csv[@]}" | sort -n | tr '\n' ' ')s ($(wc -c < .run/bench-billing-claim.csv) bytes)"
