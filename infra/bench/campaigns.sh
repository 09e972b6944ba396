#!/usr/bin/env bash
# Campaign start throughput (issue 16): 1,000 customers on moto, 3 campaigns of all of them, each
# created as POST /v1/campaigns does and its pages run as the next-step worker runs them:
# customers per second (median of the runs) and AWS calls per customer; a page run again starts
# nobody.
# Usage: infra/bench/campaigns.sh [--release] [--customers 1000] [--runs 3] [--workers 1]
source "$(dirname "$0")/lib.sh"
bench_run bench-campaigns "$@"
