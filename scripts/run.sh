#!/usr/bin/env bash
# Sets up and runs Hotline on the embedded defaults (SQLite file, in-process bus) with demo
# data, at http://127.0.0.1:8000 (log in as alice / demo). Extra arguments go to `hotline serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
.venv/bin/hotline demo
exec .venv/bin/hotline serve --port "${PORT:-8000}" "$@"
