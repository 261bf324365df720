#!/usr/bin/env bash
# The whole test suite: lint, then pytest (SQLite always; PostgreSQL at 127.0.0.1:5432,
# or $HPO_TEST_POSTGRES, required when CI=true). Extra arguments go to pytest.
set -euo pipefail
HPO_EXTRAS=test,gp
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check hpo tests benchmarks
mypy hpo
python -m pytest "$@"
