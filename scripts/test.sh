#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint, types, then pytest against real SQLite,
# PostgreSQL, Redis, vosk and Chromium (servers are started by the tests themselves).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
# --durations: the 25 slowest tests, so the suite's time (CI budget: 20 min) can be watched
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider --durations=25 "$@"
