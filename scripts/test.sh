#!/usr/bin/env bash
# The whole test suite, from a fresh machine: services, formatting, lints,
# unit and integration tests (against the real PostgreSQL and Mosquitto that
# scripts/services.sh starts on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# shellcheck source=/dev/null
source .run/env

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast "$@"
