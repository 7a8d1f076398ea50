#!/usr/bin/env bash
# Installs what Hotline needs on a Debian/Ubuntu machine: system packages and a virtualenv.
# Safe to run again: it installs only what is missing. Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
# espeak-ng: the IVR's prompts are synthesized with it (softphone_bridge/audio.py)
want_pkgs=(python3 python3-venv python3-dev gcc espeak-ng)
if [ "$MODE" = test ]; then
  # real servers and peers the tests talk to: PostgreSQL, Redis, Chromium, speech
  # (fonts-wqy-microhei: Chinese glyphs in Chromium screenshots; wrk: the HTTP load
  # generator of tests/bench/bench_create.py; sip-tester: sipp, the SIP peer of
  # tests/softphone_bridge/test_sip.py and tests/bench/bench_ivr.py)
  want_pkgs+=(postgresql redis-server chromium fonts-wqy-microhei sox wrk sip-tester)
fi
for pkg in "${want_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  # e.g. Ubuntu 22.04 (Python 3.10): its archive has python3.11 alongside
  if ! command -v python3.11 >/dev/null; then
    echo "setup: Python $("$PY" --version 2>&1) is too old; installing python3.11"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3.11 python3.11-venv python3.11-dev
  fi
  PY=python3.11
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv

extras=""
[ "$MODE" = test ] && extras="[test]"
stamp=".venv/.hotline-installed$extras"
digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "setup: installing Python packages${extras:+ with test extras}"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
  echo "$digest" > "$stamp"
fi

# the pages' front-end libraries (charts), fetched once from the npm registry and checked
# (scripts/vendor.py); served from web/static/vendor/, never from a CDN
.venv/bin/python scripts/vendor.py
