#!/usr/bin/env bash
# Campaign start throughput (issue 16): 1,000 customers on moto, 3 campaigns of all of them, each
# created as POST /v1/campaigns does and its pages run as the next-step worker runs them:
# customers per second (median of the runs) and AWS calls per customer; a page run again starts
# nobody.
# Usage: infra/bench/campaigns.sh [--release] [--customers 1000] [--runs 3] [--workers 1]
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
  cargo build -q --release -p max-dev --bin bench-campaigns
else
  cargo build -q -p max-dev --bin bench-campaigns
fi
RUST_LOG=warn "$CARGO_TARGET_DIR/$profile/bench-campaigns" "$@"
