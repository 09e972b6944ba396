#!/usr/bin/env bash
# The feedback calls' scheduler at scale (issue 11): 10 organisations × 1,000 ready calls, 50 due
# each; one scheduler minute must read what it can place (AWS calls per run), not 10,000 calls.
# Usage: infra/bench/calls.sh [--orgs 10] [--calls 1000] [--due 50]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
infra/scripts/venv.sh
cargo build -q -p max-dev --bin bench-calls
RUST_LOG=warn "$CARGO_TARGET_DIR/debug/bench-calls" "$@"
