"""Fixtures of the client's integration tests: clusters of real in-process data servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from photonflow.storage import ClusterClient


@pytest.fixture
def client_factory() -> Iterator[Callable[..., ClusterClient]]:
    """Clients that never read the same-host registry or browse mDNS unless asked; closed at teardown."""
    made: list[ClusterClient] = []

    def factory(servers: list[str], *, cluster: str = "test", **kw: Any) -> ClusterClient:
        kw.setdefault("registry", False)
        kw.setdefault("zeroconf", False)
        kw.setdefault("timeout_s", 10.0)
        client = ClusterClient(cluster, servers, **kw)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
