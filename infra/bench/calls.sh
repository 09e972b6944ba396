#!/usr/bin/env bash
# The feedback calls' scheduler at scale (issue 11): 10 organisations × 1,000 ready calls, 50 due
# each; one scheduler minute must read what it can place (AWS calls per run), not 10,000 calls.
# Usage: infra/bench/calls.sh [--release] [--orgs 10] [--calls 1000] [--due 50]
source "$(dirname "$0")/lib.sh"
bench_run bench-calls "$@"
