#!/usr/bin/env bash
# Create (idempotently) the repo's Python virtualenv at .venv/ and install the
# pinned tools from infra/requirements.txt. Skips pip entirely when the
# requirements file is unchanged since the last successful install (a hash is
# stamped in .venv/). Needs only python3 (>= 3.9) with the venv module and pip.
#
# Usage: infra/scripts/venv.sh          (prints nothing when already up to date)
#        PYTHON=python3.12 infra/scripts/venv.sh
#        MAX_VENV_FORCE=1 infra/scripts/venv.sh   (reinstall regardless of the stamp)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/infra/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "venv.sh: $PYTHON not found; install Python 3.9+ first" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  echo "venv.sh: $PYTHON is $("$PYTHON" -V 2>&1); Python 3.9+ is required" >&2
  exit 1
fi

# The stamp covers the requirements file and the interpreter's version, so a
# Python upgrade also triggers a rebuild.
want="$("$PYTHON" - "$REQ" <<'PY'
import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(sys.version.encode())
print(h.hexdigest())
PY
)"

up_to_date() {
  [ -z "${MAX_VENV_FORCE:-}" ] &&
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
    "$VENV/bin/python" -c 'pass' >/dev/null 2>&1
}

up_to_date && exit 0

# Serialise concurrent callers (e.g. `make dev` and `make test` started together).
mkdir -p "$VENV"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV/.lock"
  flock 9
  up_to_date && exit 0 # another caller finished the job while we waited
fi

# A venv whose interpreter no longer runs (moved repo, removed Python) is rebuilt.
if [ -e "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'pass' >/dev/null 2>&1; then
  echo "venv.sh: $VENV is broken; recreating" >&2
  find "$VENV" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "venv.sh: creating $VENV with $("$PYTHON" -V 2>&1)" >&2
  if ! "$PYTHON" -m venv "$VENV"; then
    echo "venv.sh: '$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  fi
fi

rm -f "$STAMP"
echo "venv.sh: installing $(grep -cEv '^\s*(#|$)' "$REQ") pinned packages from infra/requirements.txt" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$REQ" >&2
echo "$want" >"$STAMP"
echo "venv.sh: $VENV ready" >&2
