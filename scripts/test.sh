#!/usr/bin/env bash
# The whole test suite, from a fresh machine: services, formatting, lints,
# unit and integration tests (against the real PostgreSQL and Mosquitto that
# scripts/services.sh starts on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# The console is tested in a real headless Chromium.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing: chromium chromium-driver"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# shellcheck source=/dev/null
source .run/env

echo "== compose files (docker-compose config)"
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing: docker-compose"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
for file in docker-compose*.yml; do
  # Not `config -q && echo`: under `set -e` a failing left side of && would
  # not stop the script.
  docker-compose -f "$file" config -q
  echo "$file: valid"
done

echo "== alerting rules (promtool check rules)"
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing: prometheus (for promtool)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
promtool check rules deploy/prometheus/*.yml

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# Each integration test's application appends its lifetime here; the slowest
# are listed at the end.
export TEST_DURATIONS=$PWD/.run/test-durations.log
rm -f "$TEST_DURATIONS"
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee .run/test-output.log
echo "== API fuzzing (schemathesis against the OpenAPI document)"
bash scripts/fuzz-api.sh
passed=$(awk '/^test result:/ {n += $4} END {print n + 0}' .run/test-output.log)
failed=$(awk '/^test result:/ {n += $6} END {print n + 0}' .run/test-output.log)
echo "all tests: $passed passed, $failed failed"
echo "slowest integration tests (seconds, the application's lifetime):"
sort -rn "$TEST_DURATIONS" 2>/dev/null | awk '!seen[$2]++' | head -n 15 || true
