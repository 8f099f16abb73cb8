#!/usr/bin/env bash
# Compatibility suite (reference/storage-protocol.md §9 case 23): PYME 26.9.3's own clusterIO against our data
# server, and our ClusterClient against PYME's PYMEDataServer, all on 127.0.0.1 (no mDNS: PYME's import-time
# discovery is bypassed and its server runs with `-a local`).
# Installs PYME headless into ./.venv-pyme on first use (~5 min; see reference/pyme-peer.md), then runs
# tests/compat. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-pyme
BASE_PYTHON="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"

if [ ! -x "$VENV/bin/PYMEDataServer" ]; then
    echo "== installing PYME 26.9.3 headless into $VENV"
    rm -rf "$VENV"
    "$BASE_PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # The full install pulls wxPython (no wheel here, needs GTK): install PYME without dependencies, then only
    # what the storage code imports.
    "$VENV/bin/pip" install -q numpy six pyyaml requests ujson zeroconf psutil tables jinja2 pandas \
        cython setuptools wheel meson-python meson ninja
    "$VENV/bin/pip" install -q --no-deps python-microscopy==26.9.3
    "$VENV/bin/pip" install -q --no-build-isolation pymecompress || echo "pymecompress not installed (optional)"
fi

export PHOTONFLOW_COMPAT=1 PYME_PYTHON="$PWD/$VENV/bin/python" PYME_DATASERVER="$PWD/$VENV/bin/PYMEDataServer"
exec .venv/bin/python -m pytest tests/compat -p no:cacheprovider "$@"
