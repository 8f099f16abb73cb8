"""The compatibility suite runs only from scripts/compat.sh (PHOTONFLOW_COMPAT=1, PYME in .venv-pyme)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="needs PYME 26.9.3: run scripts/compat.sh (sets PHOTONFLOW_COMPAT=1)")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.compat)
            if os.environ.get("PHOTONFLOW_COMPAT") != "1":
                item.add_marker(skip)
