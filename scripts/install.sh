#!/usr/bin/env bash
# Install photonflow into ./.venv (created if missing). Pass extras as arguments, e.g. `scripts/install.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
    .venv/bin/python -m pip install --quiet -e ".[${extras}]"
else
    .venv/bin/python -m pip install --quiet -e .
fi
