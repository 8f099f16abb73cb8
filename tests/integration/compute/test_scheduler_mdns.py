"""Scheduler discovery over mDNS, bound to the loopback interface only (no multicast leaves the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from photonflow.compute.discovery import advertise_scheduler, find_scheduler

LOOPBACK = ["127.0.0.1"]


@pytest.mark.timeout(60)
def test_scheduler_advertised_over_mdns_is_found_with_its_api(tmp_path: Path, listener: int) -> None:
    empty = tmp_path / "empty.sqlite"  # keep the registry out of it: only mDNS can find the scheduler
    with advertise_scheduler(cluster="zc-sched", host="127.0.0.1", port=listener, api="http://127.0.0.1:9",
                             mode="zeroconf", interfaces=LOOPBACK, registry=tmp_path / "r") as ad:
        found = find_scheduler("zc-sched", registry=empty, interfaces=LOOPBACK, timeout=10)
        assert found is not None
        assert (found.address, found.api, found.name) == (f"tcp://127.0.0.1:{listener}", "http://127.0.0.1:9", ad.name)
        assert find_scheduler("other", registry=empty, interfaces=LOOPBACK, timeout=0.5) is None
