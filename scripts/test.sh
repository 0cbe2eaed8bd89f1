#!/usr/bin/env bash
# Every test, exactly as CI runs it: set-up, lint, then the whole pytest suite (lab, keepalived
# interop, BIND9, SMTP, podman systemd hosts, molecule, ansible-test, ansible-lint).
#   FAST=1 bash scripts/test.sh      skips the suites marked slow
#   bash scripts/test.sh -k dns      extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m tandemlab cleanup
markers=""
if [ "${FAST:-0}" = 1 ]; then markers="not slow"; fi
exec .venv/bin/python -m pytest -m "$markers" --durations=20 "$@"
