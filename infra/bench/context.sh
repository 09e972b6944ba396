#!/usr/bin/env bash
# The customer context panel (issue 12): one customer with 100 conversations (and tickets,
# actions, interactions, calls, transactions) on moto; 200 GET /v1/customers/{id}/context through
# the dev gateway: p50/p99 and DynamoDB calls per request (fails past 4 calls or a 50 ms p50).
# Usage: infra/bench/context.sh [--release] [--conversations 100] [--requests 200] [--p50-ms 50]
source "$(dirname "$0")/lib.sh"
bench_run bench-context "$@"
