"""The rule service's worker table and per-rule throughput (pure), and ``GET /api/workers`` on a fake engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from photonflow.compute.monitor import RESPONSIVE_S, Throughput, worker_row, worker_rows
from photonflow.compute.service import build_app


def _ws(name: str, address: str, *, status: str = "running", last_seen: float = 1000.0, **metrics: Any) -> Any:
    return SimpleNamespace(name=name, address=address, status=SimpleNamespace(name=status), last_seen=last_seen,
                           nthreads=2, memory_limit=4 << 30, metrics=metrics, processing={"a", "b", "c"})


def test_worker_row_reads_the_scheduler_state() -> None:
    row = worker_row(_ws("http://127.0.0.1:8001|ab12", "tcp://127.0.0.1:4000", cpu=37.5, memory=1 << 30), now=1001.0)
    assert row == {
        "name": "http://127.0.0.1:8001|ab12", "address": "tcp://127.0.0.1:4000", "dataserver": "http://127.0.0.1:8001",
        "responsive": True, "nthreads": 2, "memory_used": 1 << 30, "memory_limit": 4 << 30, "cpu": 37.5,
        "tasks_executing": 3, "last_seen": 1000.0,
    }


@pytest.mark.parametrize(("name", "status", "age", "dataserver", "responsive"), [
    ("plain-dask-worker", "running", 0.0, None, True),
    ("|ab12", "running", 0.0, None, True),  # a photonflow worker without a data server beside it
    ("http://h:1|x", "closing_gracefully", 0.0, "http://h:1", False),
    ("http://h:1|x", "running", RESPONSIVE_S + 1, "http://h:1", False),
])
def test_worker_row_dataserver_and_responsiveness(
    name: str, status: str, age: float, dataserver: str | None, responsive: bool
) -> None:
    row = worker_row(_ws(name, "tcp://1.2.3.4:5", status=status, last_seen=100.0), now=100.0 + age)
    assert (row["dataserver"], row["responsive"]) == (dataserver, responsive)
    assert row["cpu"] is None and row["memory_used"] is None  # no heartbeat metrics yet


def test_worker_rows_are_sorted_by_name() -> None:
    rows = worker_rows([_ws("b", "tcp://b:1"), _ws("a", "tcp://a:1")], now=1000.0)
    assert [r["name"] for r in rows] == ["a", "b"]


def test_throughput_window_and_whole_run() -> None:
    meter = Throughput(window_s=10.0)
    assert meter.rates(5.0) == (None, None)
    meter.start(0.0)
    assert meter.rates(0.0) == (None, None)
    meter.add(2.0, frames=50, rows=500)
    meter.add(4.0, frames=50, rows=300)
    assert meter.rates(5.0) == (100 / 5.0, 800 / 5.0)  # since the first submission: younger than the window
    meter.add(20.0, frames=50, rows=100)
    assert meter.rates(21.0) == (50 / 10.0, 100 / 10.0)  # only the last 10 s
    assert meter.rates(40.0) == (0.0, 0.0)  # stalled: nothing completed lately
    assert meter.rates(40.0, ended=True) == (150 / 20.0, 900 / 20.0)  # first submission to last completion


class _Engine:
    def list_rules(self) -> list[dict[str, Any]]:
        return []


def test_workers_endpoint_lists_the_scheduler_workers() -> None:
    states = [_ws("http://127.0.0.1:8001|ab12", "tcp://127.0.0.1:4000", last_seen=0.0)]
    app = build_app(_Engine(), scheduler_address="tcp://127.0.0.1:1", workers=lambda: states)  # type: ignore[arg-type]
    with TestClient(app) as http:
        answer = http.get("/api/workers")
        assert answer.status_code == 200
        (row,) = answer.json()
        assert row["address"] == "tcp://127.0.0.1:4000" and row["dataserver"] == "http://127.0.0.1:8001"
        assert row["responsive"] is False  # last seen at the epoch
        states.clear()
        assert http.get("/api/workers").json() == []
