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
echo "== cargo test (build)"
cargo test --workspace --no-run "$@"
# The API fuzzing runs beside the tests, against the backend just built: the
# tests mostly wait (on the database, the brokers, the browser), and the
# fuzzer keeps the other core busy meanwhile. Its output follows theirs.
echo "== API fuzzing (schemathesis against the OpenAPI document), in the background"
SERVICES_RUNNING=1 ELDERCARE_BIN=target/debug/eldercare bash scripts/fuzz-api.sh > .run/fuzz-output.log 2>&1 &
fuzz=$!
trap 'kill "$fuzz" 2>/dev/null || true' EXIT
echo "== cargo test"
# Each integration test's application appends its lifetime here; the slowest
# are listed at the end.
export TEST_DURATIONS=$PWD/.run/test-durations.log
rm -f "$TEST_DURATIONS"
# Four tests at a time on two cores: most of a test's time is waiting.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee .run/test-output.log
echo "== API fuzzing: its output"
fuzz_status=0
wait "$fuzz" || fuzz_status=$?
trap - EXIT
cat .run/fuzz-output.log
if [ "$fuzz_status" -ne 0 ]; then
  echo "API fuzzing failed (exit $fuzz_status)"
  exit "$fuzz_status"
fi
passed=$(awk '/^test result:/ {n += $4} END {print n + 0}' .run/test-output.log)
failed=$(awk '/^test result:/ {n += $6} END {print n + 0}' .run/test-output.log)
echo "all tests: $passed passed, $failed failed"
echo "slowest integration tests (seconds, the application's lifetime):"
sort -rn "$TEST_DURATIONS" 2>/dev/null | awk '!seen[$2]++' | head -n 15 || true
