#!/usr/bin/env bash
# Create .venv and install hpo into it (editable) once; later runs reuse it until
# pyproject.toml or the constraints change. Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${HPO_EXTRAS:-}
stamp_of() { cat pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16; echo "$EXTRAS"; }
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
if [ "$(cat .venv/.hpo-stamp 2>/dev/null)" != "$(stamp_of)" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".${EXTRAS:+[$EXTRAS]}" \
    2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import hpo, optuna, keras" >/dev/null 2>&1 \
    || { echo "setup.sh: installing hpo into .venv failed; see pip's output above" >&2; exit 1; }
  stamp_of > .venv/.hpo-stamp
fi
export PATH="$PWD/.venv/bin:$PATH"
