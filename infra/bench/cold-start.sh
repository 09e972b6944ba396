#!/usr/bin/env bash
# Cold start of every function binary (release build) under the local Lambda
# Runtime API emulator (infra/lambda-emulator). Issue 2, section 5.
#
#   infra/bench/cold-start.sh [FUNCTION ...]
#
# For each function crate under functions/, runs its binary RUNS times (default
# 20), each a fresh process, with the first events/<function>/*.json as the
# event, and prints: median init ms, p90, peak RSS MiB, network calls during
# init. Exits non-zero when a function's median init exceeds MAX_INIT_MS
# (default 15), its peak RSS exceeds MAX_RSS_MIB (default 20), it makes any
# network call during init, or a run fails (crash, init error, timeout).
# A function without a fixture is skipped with a note.
#
# Every AWS endpoint and the Graph API point at the emulator's sink, which
# counts connections and answers 400; function errors during the invocation
# (no AWS behind the sink) are shown but do not fail the benchmark.
# Per-function JSON lands in $TARGET/bench/cold-start/. Knobs: RUNS, MAX_INIT_MS,
# MAX_RSS_MIB, EXTRA_ENV="K=V ...".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-20}
MAX_INIT_MS=${MAX_INIT_MS:-15}
MAX_RSS_MIB=${MAX_RSS_MIB:-20}

listing=$(cargo metadata --no-deps --format-version 1 | python3 infra/bench/functions.py "$ROOT")
TARGET=$(head -n1 <<<"$listing")
mapfile -t FUNCTIONS < <(tail -n +2 <<<"$listing" | grep . || true)

if (($# > 0)); then
  wanted=" $* "
  selected=()
  for line in "${FUNCTIONS[@]}"; do
    IFS=$'\t' read -r fn pkg _ <<<"$line"
    [[ $wanted == *" $fn "* || $wanted == *" $pkg "* ]] && selected+=("$line")
  done
  FUNCTIONS=("${selected[@]}")
fi
if ((${#FUNCTIONS[@]} == 0)); then
  echo "cold-start: no function crates found under functions/ (nothing to measure)"
  exit 0
fi

packages=(-p lambda-emulator)
for line in "${FUNCTIONS[@]}"; do
  IFS=$'\t' read -r _ pkg _ <<<"$line"
  [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=(-p "$pkg")
done
echo "cold-start: cargo build --release ${packages[*]}"
cargo build --release "${packages[@]}"

EMULATOR="$TARGET/release/lambda-emulator"
OUT="$TARGET/bench/cold-start"
mkdir -p "$OUT"

# Dummy configuration: every URL points at the emulator's sink.
ENV_ARGS=(
  --env TABLE_NAME=max-bench
  --env "INBOUND_QUEUE_URL=http://{sink}/000000000000/max-bench-inbound.fifo"
  --env "REPLIES_QUEUE_URL=http://{sink}/000000000000/max-bench-replies.fifo"
  --env "NEXT_STEP_QUEUE_URL=http://{sink}/000000000000/max-bench-next-step.fifo"
  --env "CALLS_QUEUE_URL=http://{sink}/000000000000/max-bench-calls.fifo"
  --env "MEDIA_QUEUE_URL=http://{sink}/000000000000/max-bench-media"
  --env "WEBHOOKS_QUEUE_URL=http://{sink}/000000000000/max-bench-webhooks"
  --env MEDIA_BUCKET=max-bench-media
  --env WHATSAPP_APP_SECRET=bench-app-secret
  --env WHATSAPP_VERIFY_TOKEN=bench-verify-token
  --env SECRETS_PREFIX=max/bench/
  --env "GRAPH_API_BASE_URL=http://{sink}"
  --env "TWILIO_API_BASE_URL=http://{sink}"
  --env PUBLIC_API_URL=https://api.example.com
  --env "LIVE_PUSH_ENDPOINT=http://{sink}"
  --env "JWT_ISSUER=http://{sink}"
  --env JWT_AUDIENCE=bench-dashboard
  --env RUST_LOG=info
)
# More environment for the functions: EXTRA_ENV="K=V K2=V2" (no spaces in values).
for kv in ${EXTRA_ENV:-}; do ENV_ARGS+=(--env "$kv"); done

status=0
rows=()
notes=()
for line in "${FUNCTIONS[@]}"; do
  IFS=$'\t' read -r fn pkg bin <<<"$line"
  label=$fn
  (($(printf '%s\n' "${FUNCTIONS[@]}" | grep -c "^$fn	") > 1)) && label="$fn/$bin"
  event=""
  for dir in "events/$fn" "events/$pkg"; do
    if [[ -d $dir ]]; then
      event=$(find "$dir" -maxdepth 1 -name '*.json' -type f | LC_ALL=C sort | head -n1)
      [[ -n $event ]] && break
    fi
  done
  if [[ -z $event ]]; then
    notes+=("$label: skipped, no fixture in events/$fn/")
    continue
  fi
  echo "cold-start: $label: $RUNS runs with $event"
  json="$OUT/$label.json"
  mkdir -p "$(dirname "$json")"
  set +e
  "$EMULATOR" --binary "$TARGET/release/$bin" --event "$event" --runs "$RUNS" \
    --function-name "$fn" --json "${ENV_ARGS[@]}" >"$json" 2>"$OUT/$label.log"
  rc=$?
  set -e
  row=$(python3 - "$json" "$rc" "$MAX_INIT_MS" "$MAX_RSS_MIB" <<'EOF'
import json, sys
path, rc, max_init, max_rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
try:
    s = json.load(open(path))
except Exception as e:
    print(f"-\t-\t-\t-\t-\tFAIL (emulator exit {rc}, no summary: {e})")
    sys.exit(0)
med, p90 = s["init_ms"]["median"], s["init_ms"]["p90"]
rss, net = s["peak_rss_mib"]["max"], s["init_network_calls"]
problems = []
if s["failed"] or rc != 0:
    first = next((r["failure"] for r in s["per_run"] if r["failure"]), "")
    problems.append(f"{s['failed']} runs failed: {first}")
if med is not None and med > max_init:
    problems.append(f"median init > {max_init:g} ms")
if rss is not None and rss > max_rss:
    problems.append(f"peak RSS > {max_rss:g} MiB")
if med is None and not problems:
    problems.append("no init measured")
if net:
    problems.append("network call during init")
verdict = "FAIL: " + "; ".join(problems) if problems else "ok"
if s["function_errors"]:
    verdict += f" ({s['function_errors']} function errors in the invocation)"
fmt = lambda v: "-" if v is None else f"{v:.2f}"
print(f"{fmt(med)}\t{fmt(p90)}\t{fmt(rss)}\t{net}\t{fmt(s['invoke_ms']['median'])}\t{verdict}")
EOF
  )
  [[ $row == *FAIL* ]] && status=1
  rows+=("$label	$row")
done

echo
printf '%-22s %12s %9s %13s %9s %10s  %s\n' function "median init" "p90" "peak RSS MiB" "init net" "invoke ms" result
for r in "${rows[@]}"; do
  IFS=$'\t' read -r label med p90 rss net inv verdict <<<"$r"
  printf '%-22s %12s %9s %13s %9s %10s  %s\n' "$label" "$med" "$p90" "$rss" "$net" "$inv" "$verdict"
done
for n in "${notes[@]}"; do echo "note: $n"; done
echo "limits: median init <= $MAX_INIT_MS ms, peak RSS <= $MAX_RSS_MIB MiB, 0 network calls during init; $RUNS runs each (init net: total over the runs)"
echo "details: $OUT/"
exit $status
