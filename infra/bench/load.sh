#!/usr/bin/env bash
# Dev-stack load benchmark (issue 2, section 5; issue 18): N inbound text messages per second for
# S seconds from C customers, then as many agent replies; prints p50/p95/p99 of inbound → visible
# and reply → Graph API, replies not sent within the run + 10 s, the CPU moto and the stack's own
# process used, what each queue's pollers did, and the AWS calls per inbound message.
# Usage: infra/bench/load.sh [--release] [--rate 20] [--seconds 30] [--customers 20] [--max-concurrency 64]
#   make bench-load      20 msg/s for 30 s from 20 customers (debug build)
#   make bench-load-80   80 msg/s for 30 s from 80 customers: one WhatsApp number's full rate, optimised (--release)
# --release builds the benchmark (and every function it runs) optimised: the `stack` profile,
# release without the Lambda zips' fat LTO (which would take a quarter of an hour to link).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"
profile=debug
if [[ "${1:-}" == "--release" ]]; then
  profile=stack
  shift
fi
infra/scripts/venv.sh
if [[ $profile == stack ]]; then
  cargo build -q --profile stack -p max-dev --bin load
else
  cargo build -q -p max-dev --bin load
fi
echo "build profile: $profile; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
RUST_LOG=warn "$CARGO_TARGET_DIR/$profile/load" "$@" 2> >(grep --line-buffered '^load:' >&2)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
