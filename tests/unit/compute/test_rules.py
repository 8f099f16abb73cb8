"""The pure rule model, its SQLite store, and the locality helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from photonflow.compute import rules as R
from photonflow.compute.engine import default_results_path
from photonflow.compute.locality import chunk_server, normalize_server, worker_name, workers_by_server
from photonflow.compute.store import RuleStore
from photonflow.compute.tasks import frame_span, part_name


def _rule() -> R.Rule:
    return R.new_rule(7, "localization", {"series": "a/b.pcs"})


def test_rule_id_has_pyme_shape() -> None:
    rule = _rule()
    serial, _, tail = rule.id.partition("-")
    assert serial == "000007" and len(tail) == 32


def test_release_is_idempotent_and_keeps_state() -> None:
    rule = _rule()
    assert R.release(rule, range(3)) == [0, 1, 2]
    R.start_task(rule, 0)
    assert R.release(rule, range(5)) == [3, 4]
    assert rule.tasks[0].status == "running"


def test_retry_until_max_attempts_then_failed() -> None:
    rule = _rule()
    R.release(rule, [0])
    for attempt in (1, 2):
        R.start_task(rule, 0)
        assert R.fail_task(rule, 0, f"boom {attempt}", max_attempts=3)
        assert rule.tasks[0].status == "pending"
    R.start_task(rule, 0)
    assert not R.fail_task(rule, 0, "boom 3", max_attempts=3)
    assert rule.tasks[0].status == "failed" and rule.tasks[0].attempts == 3
    R.mark_release_complete(rule)
    assert R.is_finished(rule)
    R.finish(rule)
    assert rule.status == "failed" and "boom 3" in (rule.error or "")
    assert R.counts(rule)["retries"] == 2


def test_duplicate_success_counts_once_and_late_failure_is_ignored() -> None:
    rule = _rule()
    R.release(rule, [0, 1])
    R.start_task(rule, 0)
    assert R.task_done(rule, 0, worker="w", local=True, rows=10)
    assert not R.task_done(rule, 0, worker="w2", local=False, rows=10)
    assert not R.fail_task(rule, 0, "late", max_attempts=3)
    c = R.counts(rule)
    assert (c["done"], c["rows"], c["local"], c["pending"]) == (1, 10, 1, 1)


def test_not_finished_until_release_complete() -> None:
    rule = _rule()
    R.release(rule, [0])
    R.start_task(rule, 0)
    R.task_done(rule, 0, worker=None, local=None, rows=0)
    assert not R.is_finished(rule)
    with pytest.raises(ValueError):
        R.finish(rule)
    R.mark_release_complete(rule)
    R.finish(rule)
    assert rule.status == "assembling"


def test_cancel_drops_open_tasks_once() -> None:
    rule = _rule()
    R.release(rule, [0, 1])
    R.start_task(rule, 1)
    assert R.cancel(rule)
    assert rule.status == "cancelled"
    assert {t.status for t in rule.tasks.values()} == {"failed"}
    assert not R.cancel(rule)


def test_start_task_refuses_non_pending() -> None:
    rule = _rule()
    R.release(rule, [0])
    R.start_task(rule, 0)
    with pytest.raises(ValueError, match="not pending"):
        R.start_task(rule, 0)


def test_store_round_trip_and_serial(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "sub" / "rules.sqlite")
    assert store.next_serial() == 1
    rule = _rule()
    R.release(rule, [0, 1])
    R.start_task(rule, 0)
    R.task_done(rule, 0, worker="w", local=True, rows=4)
    rule.outputs.append("x.h5r")
    store.save_rule(rule)
    store.save_tasks(rule.id, list(rule.tasks.values()))
    store.close()
    again = RuleStore(tmp_path / "sub" / "rules.sqlite")
    [loaded] = again.load()
    assert loaded.id == rule.id and loaded.outputs == ["x.h5r"] and loaded.spec == rule.spec
    assert loaded.tasks == rule.tasks
    assert again.next_serial() == 8


def test_locality_helpers() -> None:
    assert normalize_server("localhost:8080/") == "http://127.0.0.1:8080"
    names = {
        "tcp://127.0.0.1:1": worker_name("http://localhost:15348", "a"),
        "tcp://127.0.0.1:2": worker_name("http://127.0.0.1:15348", "b"),
        "tcp://127.0.0.1:3": worker_name("http://127.0.0.1:15349", "c"),
        "tcp://127.0.0.1:4": "plain-dask-worker",
    }
    assert workers_by_server(names) == {
        "http://127.0.0.1:15348": ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"],
        "http://127.0.0.1:15349": ["tcp://127.0.0.1:3"],
    }
    assert chunk_server([("http://a:1",), ("http://b:2",), ("http://b:2", "http://a:1"), ("http://b:2",)]) == \
        "http://b:2"
    assert chunk_server([]) is None


def test_names_and_spans() -> None:
    assert part_name(12) == "chunk_000012.npy"
    assert frame_span((-30, 0)) == (30, 0)
    assert frame_span((-5, 4)) == (5, 3)
    assert default_results_path("run1/cell3.pcs") == "run1/analysis/cell3.h5r"
    assert default_results_path("cell3.pcs") == "analysis/cell3.h5r"
