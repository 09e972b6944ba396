#!/usr/bin/env bash
# The customer context panel (issue 12): one customer with 100 conversations (and tickets,
# actions, interactions, calls, transactions) on moto; 200 GET /v1/customers/{id}/context through
# the dev gateway: p50/p99 and DynamoDB calls per request (fails past 4 calls or a 50 ms p50).
# Usage: infra/bench/context.sh [--release] [--conversations 100] [--requests 200] [--p50-ms 50]
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
  cargo build -q --release -p max-dev --bin bench-context
else
  cargo build -q -p max-dev --bin bench-context
fi
RUST_LOG=warn "$CARGO_TARGET_DIR/$profile/bench-context" "$@"
