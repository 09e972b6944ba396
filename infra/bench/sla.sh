#!/usr/bin/env bash
# The SLA scheduler (issue 13): 10,000 open conversations with SLA clocks on moto, 200 due this
# minute; one scheduler run: steps taken, DynamoDB calls (proportional to the 200, never to the
# 10,000: fails past 3 per due conversation + 4) and time.
# Usage: infra/bench/sla.sh [--release] [--open 10000] [--due 200]
source "$(dirname "$0")/lib.sh"
bench_run bench-sla "$@"
