"""UI unit-test fixtures: an in-process data server with demo content and the app in Starlette's TestClient."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette 1.x nags about httpx inside its TestClient; the client works and is what the suite has.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from photonflow.storage import ClusterClient
from photonflow.ui import AuthSettings, create_app
from photonflow.ui._demo import write_demo_results, write_demo_series


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterClient]:
    """A data server with a complete 60-frame series, a spooling one and a results file."""
    from photonflow.storage.server import start_server

    server = start_server(tmp_path_factory.mktemp("ui-data"), cluster="uitest")
    client = ClusterClient("uitest", servers=[f"http://127.0.0.1:{server.port}"], registry=False, zeroconf=False)
    write_demo_series(client, "demo/cell1.pcs", n_frames=60)
    write_demo_series(client, "demo/live.pcs", n_frames=10, finalize=False, seed=2)
    write_demo_results(client, "demo/locs.h5r", n=2000)
    yield client
    client.close()
    server.stop(grace=2)


@pytest.fixture
def make_app(demo_client: ClusterClient, tmp_path: Path) -> Callable[..., TestClient]:
    """Build the app on the demo cluster (keyword arguments go to ``create_app``) inside a TestClient."""

    def factory(**kwargs: Any) -> TestClient:
        kwargs.setdefault("presets_dir", tmp_path / "presets")
        kwargs.setdefault("auth", AuthSettings())
        return TestClient(create_app(client=demo_client, **kwargs), headers={"accept": "text/html"})

    return factory


def csrf_of(client: TestClient, path: str = "/files/") -> str:
    """The CSRF token the pages of this session carry."""
    html = client.get(path).text
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
