#!/usr/bin/env bash
# Support notification counts with 10 and 10,000 tickets: DynamoDB calls per read and latency
# (median, p95) against moto, for the use case, the HTTP route, and a COUNT query for contrast.
#
# Usage: infra/bench/support-notifications.sh [--import] [sizes...]   (default: 10 10000)
# Tickets are written one transaction each, as the app does; --import fills with BatchWriteItem.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
"$ROOT/infra/scripts/venv.sh"
cd "$ROOT"
# The dev profile: the time is spent in moto, not in our code.
exec cargo run --quiet -p max-dev --example support_notifications -- "$@"
