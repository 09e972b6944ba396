#!/usr/bin/env bash
# Issue 4 benchmarks on the dev stack: approval → Graph API request with 50 decisions in flight
# (p50/p95/p99), and the long-poll wake-up after a new event.
# Usage: infra/bench/actions.sh [--in-flight 50] [--rounds 6] [--pollers 1] [--wakeups 60]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
infra/scripts/venv.sh
cargo build -q -p max-dev --bin actions_bench
RUST_LOG=warn "$CARGO_TARGET_DIR/debug/actions_bench" "$@" 2>/dev/null
