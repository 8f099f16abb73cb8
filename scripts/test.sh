#!/usr/bin/env bash
# Install everything the tests need (Debian packages when missing, then ./.venv) and run lint, types and tests.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k storage -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Open MPI from Debian for the MPI tests, litmus and FUSE for the WebDAV and mount tests. Ask dpkg whether each package is *installed* (a bare `dpkg -s` also
# succeeds for removed packages whose config is left, and `mpiexec` on PATH may be MPICH's).
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]; }
missing=()
for pkg in openmpi-bin libopenmpi-dev litmus libfuse2 fuse3; do
    installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/install.sh test

echo "== ruff"
.venv/bin/ruff check src tests benchmarks
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
