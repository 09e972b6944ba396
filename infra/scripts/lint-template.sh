#!/usr/bin/env bash
# Lint template.yaml: cfn-lint with the serverless rules (cfn-lint-serverless),
# then the project's own checks (infra/scripts/check_template.py, after its self-tests in
# infra/scripts/test_check_template.py).
# Exits non-zero on any cfn-lint error (warnings and informational findings are
# printed but allowed) or on any failed project check.
#
# Usage: infra/scripts/lint-template.sh [path/to/template.yaml]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TEMPLATE="${1:-$ROOT/template.yaml}"

"$ROOT/infra/scripts/venv.sh"

# cfn-lint's exit code is a bit mask: 1 fatal (e.g. unparsable), 2 error,
# 4 warning, 8 informational.
rc=0
"$ROOT/.venv/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- "$TEMPLATE" || rc=$?
if (( rc & 3 )); then
  echo "lint-template: cfn-lint found errors in $TEMPLATE (exit $rc)" >&2
  exit 1
fi
if (( rc != 0 )); then
  echo "lint-template: cfn-lint warnings only (exit $rc), allowed" >&2
fi

# The checker's own tests first (each rule fires on a bad snippet), then the checker.
if ! selftest="$("$ROOT/.venv/bin/python" -m unittest "$ROOT/infra/scripts/test_check_template.py" 2>&1)"; then
  echo "$selftest" >&2
  echo "lint-template: check_template.py self-tests failed" >&2
  exit 1
fi
echo "lint-template: check_template.py self-tests: $(grep -E '^Ran ' <<<"$selftest"), OK"
"$ROOT/.venv/bin/python" "$ROOT/infra/scripts/check_template.py" "$TEMPLATE"
echo "lint-template: $TEMPLATE OK"
