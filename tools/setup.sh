#!/usr/bin/env bash
# Idempotent setup of the Python tools: creates tools/.venv, installs tools/requirements.txt and
# the tools package itself (tools/pyproject.toml).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ]; then
  echo "setup: venv exists at $VENV (kept)"
else
  echo "setup: creating venv at $VENV with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
if "$VENV/bin/python" - "$HERE/requirements.txt" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want:
        bad.append(f"{name} (have {have}, want {want})")
print("setup: missing/mismatched: " + ", ".join(bad) if bad else "setup: all requirements satisfied")
sys.exit(1 if bad else 0)
PYEOF
then
  echo "setup: nothing to install"
else
  echo "setup: pip install -r $HERE/requirements.txt"
  "$VENV/bin/python" -m pip install --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -r "$HERE/requirements.txt"
fi
# The tools themselves as a package (tools/pyproject.toml), editable: scripts and tests import
# `dusnet` from this folder without sys.path edits.
"$VENV/bin/python" -m pip install -q --no-deps -e "$HERE"
echo "setup: done. Run tests with: $VENV/bin/python -m pytest $HERE/tests"
