#!/usr/bin/env bash
# The lab demo: build test hosts, deploy with the collection, show a failover.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m tandemlab cleanup >/dev/null
exec .venv/bin/python -m tandemlab.demo "$@"
