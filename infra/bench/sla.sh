#!/usr/bin/env bash
# The SLA scheduler (issue 13): 10,000 open conversations with SLA clocks on moto, 200 due this
# minute; one scheduler run: steps taken, DynamoDB calls (proportional to the 200, never to the
# 10,000: fails past 3 per due conversation + 4) and time.
# Usage: infra/bench/sla.sh [--release] [--open 10000] [--due 200]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
profile=debug
if [[ "${1:-}" == "--release" ]]; then
  profile=release
  shift
fi
infra/scripts/venv.sh
if [[ "$profile" == release ]]; then
  cargo build -q --release -p max-dev --bin bench-sla
else
  cargo build -q -p max-dev --bin bench-sla
fi
RUST_LOG=warn "$CARGO_TARGET_DIR/$profile/bench-sla" "$@"
