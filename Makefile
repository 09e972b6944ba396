# The two commands of the README: `make dev` (the whole system locally) and `make test` (every test).
# One build cache outside the clone, so CI and fresh clones reuse it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/max/target
export CARGO_TERM_COLOR ?= never

.PHONY: dev test venv lint build openapi bench-cold-start bench-package-size bench-load bench-load-80 bench-interactions bench-calls bench-context bench-sla bench-campaigns bench-support-notifications bench-actions bench-moto

venv:
	@infra/scripts/venv.sh

## make dev: moto + every table/queue/bucket of template.yaml + the dev gateway on :3000 (MAX_PORT)
dev: venv
	cargo build -p max-dev --bin max-dev
	"$(CARGO_TARGET_DIR)/debug/max-dev"

## make test: template lint, the moto patches' checks (patched moto answers as moto does), unit
## tests, end-to-end tests (moto started on a free port), then the API contract test: schemathesis
## against the dev stack (infra/scripts/schemathesis.sh)
test: venv lint
	.venv/bin/python -m unittest infra/scripts/test_moto_patches.py
	cargo test --workspace
	infra/scripts/schemathesis.sh

## make openapi: write infra/openapi.yaml from the code (a test fails while it differs)
openapi:
	cargo run -q -p max-dev --bin openapi

lint: venv
	infra/scripts/lint-template.sh

build:
	cargo build --workspace

bench-cold-start:
	infra/bench/cold-start.sh

bench-package-size:
	infra/bench/package-size.sh

## make bench-load: 20 msg/s for 30 s from 20 customers, as many agent replies (ARGS="--rate 40 ..." changes it)
bench-load: venv
	infra/bench/load.sh $(ARGS)

## make bench-load-80: one WhatsApp number's full rate: 80 msg/s for 30 s from 80 customers (issue 18), optimised build
bench-load-80: venv
	infra/bench/load.sh --release --rate 80 --customers 80 --seconds 30 $(ARGS)

## make bench-interactions: completion -> next interaction visible through the API (p50/p99)
bench-interactions: venv
	infra/bench/interactions.sh

## make bench-calls: the feedback calls' scheduler with 10,000 ready calls, 500 due (AWS calls per run)
bench-calls: venv
	infra/bench/calls.sh $(ARGS)

## make bench-context: the customer context panel of a customer with 100 conversations (p50/p99, DynamoDB calls per request)
bench-context: venv
	infra/bench/context.sh $(ARGS)

## make bench-sla: the SLA scheduler with 10,000 open conversations, 200 due this minute (DynamoDB calls, time)
bench-sla: venv
	infra/bench/sla.sh $(ARGS)

## make bench-campaigns: campaign start throughput (customers per second) and AWS calls per customer, 1,000 customers
bench-campaigns: venv
	infra/bench/campaigns.sh $(ARGS)

## make bench-support-notifications: notification counts with 10 and 10,000 tickets (calls per read, latency)
bench-support-notifications: venv
	infra/bench/support-notifications.sh

## make bench-actions: approval -> Graph API request with 50 in flight, long-poll wake-up
bench-actions: venv
	infra/bench/actions.sh

## make bench-moto: what one call costs the local stack's moto (GetItem, PutItem, a 7-item transaction)
bench-moto: venv
	.venv/bin/python infra/bench/moto_calls.py
