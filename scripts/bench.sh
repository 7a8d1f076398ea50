#!/usr/bin/env bash
# Runs every benchmark in tests/bench/ (each prints median/p99 and the machine).
# Takes ~20 minutes on 2 cores; pass names to run some: scripts/bench.sh core pop
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(core ami pop ws asr burst login_storm body_cap create routing outbox sla mailin stats reports ivr dispatch dayplan)
for name in "${names[@]}"; do
  echo "== bench_$name"
  .venv/bin/python -m "tests.bench.bench_$name"
done
