#!/usr/bin/env bash
# Dev-stack load benchmark (issue 2, section 5): 20 inbound text messages per second for 30 s,
# as many agent replies; prints p50/p95/p99 of inbound → visible and reply → Graph API, and the
# AWS calls per inbound message. Usage: infra/bench/load.sh [--rate 20] [--seconds 30]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
infra/scripts/venv.sh
cargo build -q -p max-dev --bin load
RUST_LOG=warn "$CARGO_TARGET_DIR/debug/load" "$@" 2>/dev/null
