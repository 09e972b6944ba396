#!/usr/bin/env bash
# Interactions benchmark of the dev stack (issue 5): completion → next interaction visible
# through the API (p50/p95/p99; goal p50 ≤ 150 ms), plus the complete call itself.
# Usage: infra/bench/interactions.sh [--samples 200] [--warmup 10] [--poll-ms 5] [--concurrency 1]
# Set PROFILE=release to measure a release build of the same path.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
infra/scripts/venv.sh
if [[ "${PROFILE:-debug}" == "release" ]]; then
  cargo build -q --release -p max-dev --bin bench-interactions
else
  cargo build -q -p max-dev --bin bench-interactions
fi
RUST_LOG=warn "$CARGO_TARGET_DIR/${PROFILE:-debug}/bench-interactions" "$@" 2>/dev/null
