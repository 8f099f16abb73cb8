"""Scheduler discovery through the same-host registry (mDNS off: nothing leaves the machine)."""

from __future__ import annotations

import socket
from pathlib import Path

from photonflow.compute.discovery import advertise_scheduler, find_scheduler
from photonflow.config import load_config


def test_registry_finds_the_scheduler_of_its_cluster_only(tmp_path: Path) -> None:
    registry = tmp_path / "sched.sqlite"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with advertise_scheduler(cluster="lab", host="127.0.0.1", port=port, api="http://127.0.0.1:9", mode="local",
                                 registry=registry):
            found = find_scheduler("lab", registry=registry, zeroconf=False)
            assert found is not None and found.address == f"tcp://127.0.0.1:{port}"
            assert found.api == "http://127.0.0.1:9"
            assert find_scheduler("other", registry=registry, zeroconf=False) is None
        assert find_scheduler("lab", registry=registry, zeroconf=False) is None


def test_dead_entries_are_pruned_and_config_wins(tmp_path: Path) -> None:
    registry = tmp_path / "sched.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    advertise_scheduler(cluster="lab", host="127.0.0.1", port=port, api=None, mode="local", registry=registry)
    assert find_scheduler("lab", registry=registry, zeroconf=False) is None
    config = load_config(paths=[], environ={}, overrides={"cluster": "lab", "scheduler_address": "tcp://10.0.0.1:8786",
                                                          "scheduler_api": "http://10.0.0.1:8787"})
    found = find_scheduler("lab", config=config, registry=registry, zeroconf=False)
    assert found is not None and found.address == "tcp://10.0.0.1:8786" and found.api == "http://10.0.0.1:8787"
