#!/usr/bin/env bash
# The whole test suite: lint, then pytest (SQLite always; PostgreSQL at 127.0.0.1:5432,
# or $HPO_TEST_POSTGRES, required when CI=true). Extra arguments go to pytest.
# Tests run in parallel (pytest-xdist), one process per core up to 4: most of a test's time is
# a real `hpo` process starting Keras and training, one core each. HPO_TEST_JOBS=1 runs them serially.
set -euo pipefail
HPO_EXTRAS=test,gp
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# The browser tests drive Debian's Chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests" >&2
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "test.sh: could not install chromium; the browser tests will say so" >&2
fi
ruff check hpo tests benchmarks
mypy hpo
jobs=${HPO_TEST_JOBS:-$(nproc)}
if [ "$jobs" -gt 4 ]; then jobs=4; fi
python -m pytest -n "$jobs" --dist worksteal "$@"
