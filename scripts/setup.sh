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
  echo "installing hpo${EXTRAS:+[$EXTRAS]} into .venv (pip's log: .venv/setup.log)" >&2
  if ! .venv/bin/python -m pip install -c scripts/constraints.txt -e ".${EXTRAS:+[$EXTRAS]}" \
      > .venv/setup.log 2>&1 || ! .venv/bin/python -c "import hpo, optuna, keras" >/dev/null 2>&1; then
    tail -n 20 .venv/setup.log >&2
    echo "setup.sh: installing hpo into .venv failed; the whole log is .venv/setup.log" >&2
    exit 1
  fi
  stamp_of > .venv/.hpo-stamp
fi
export PATH="$PWD/.venv/bin:$PATH"
