#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint, types, then pytest against real SQLite,
# PostgreSQL, Redis, vosk and Chromium (servers are started by the tests themselves).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
# -n: one test process per core (at most 4; HOTLINE_TEST_WORKERS=1 runs them in this one),
# each with its own servers; a module's tests stay in one process (--dist loadscope), as
# its module fixtures assume. --durations: the 25 slowest tests, so the suite's time (CI
# budget: 20 min) can be watched.
workers="${HOTLINE_TEST_WORKERS:-auto}"
par=(-n "$workers" --maxprocesses 4 --dist loadscope)
[ "$workers" = 1 ] && par=()
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider --durations=25 "${par[@]}" "$@"
