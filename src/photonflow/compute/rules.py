"""Rules and their tasks: a pure state model (no I/O), persisted by :mod:`photonflow.compute.store`.

A rule is an analysis over a series (``localization``: one task per spool chunk) or over a set of files
(``recipe``: one task per file). Tasks are *released* when their data are there, run (possibly several times: retries
after failures or lost workers), and end ``done`` or ``failed``. Every counter is derived from the per-task states,
never kept by incremental arithmetic (PYME's accounting drift, compute.md §8 B6). A rule is finished when its release
is complete and no task is pending or running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "Rule",
    "RuleKind",
    "RuleStatus",
    "Task",
    "TaskStatus",
    "cancel",
    "counts",
    "fail_task",
    "finish",
    "is_finished",
    "mark_release_complete",
    "new_rule",
    "release",
    "start_task",
    "task_done",
]

RuleKind = Literal["localization", "recipe"]
RuleStatus = Literal["active", "assembling", "complete", "failed", "cancelled"]
TaskStatus = Literal["pending", "running", "done", "failed"]


@dataclass
class Task:
    """One unit of work: a spool chunk (localization) or one input file (recipe).

    Attributes
    ----------
    index : int
        Chunk number or input number.
    status : {"pending", "running", "done", "failed"}
    attempts : int
        Times it was handed to the engine (a retry adds one).
    worker : str or None
        Address of the worker whose result counted.
    local : bool or None
        That worker sits beside the data server holding the task's data.
    rows : int
        Rows (localizations) or files the task produced.
    error : str or None
        Last failure, as text.
    seconds : float
        Time the counted run spent inside the task.
    """

    index: int
    status: TaskStatus = "pending"
    attempts: int = 0
    worker: str | None = None
    local: bool | None = None
    rows: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Rule:
    """A rule and the state of each of its tasks.

    Attributes
    ----------
    id : str
        ``"%06d-<hex>"`` (PYME's shape: a serial, then a random part).
    kind : {"localization", "recipe"}
    spec : dict
        JSON-able description of the work (see :mod:`photonflow.compute.engine`).
    status : {"active", "assembling", "complete", "failed", "cancelled"}
    created : float
        Unix time.
    tasks : dict of int to Task
        Released tasks by index.
    release_complete : bool
        No more tasks will be released (the series is complete, or the file list was fixed at creation).
    error : str or None
        Why the rule failed.
    parent, child : str or None
        The rule this one was chained from / the rule chained on this one's completion.
    outputs : list of str
        Cluster paths the rule produced (the ``.h5r`` of a localization rule, the files of a recipe rule).
    frames : int
        Frames known so far (localization rules).
    """

    id: str
    kind: RuleKind
    spec: dict[str, Any]
    status: RuleStatus = "active"
    created: float = field(default_factory=time.time)
    tasks: dict[int, Task] = field(default_factory=dict)
    release_complete: bool = False
    error: str | None = None
    parent: str | None = None
    child: str | None = None
    outputs: list[str] = field(default_factory=list)
    frames: int = 0

    def to_dict(self, *, with_tasks: bool = True) -> dict[str, Any]:
        """JSON-able form (what the rule API returns)."""
        doc = asdict(self)
        doc["tasks"] = [asdict(t) for t in self.tasks.values()] if with_tasks else None
        doc["counts"] = counts(self)
        return doc


def new_rule(serial: int, kind: RuleKind, spec: Mapping[str, Any], *, parent: str | None = None) -> Rule:
    """A fresh active rule with no task released."""
    return Rule(id=f"{serial:06d}-{uuid.uuid4().hex}", kind=kind, spec=dict(spec), parent=parent)


def release(rule: Rule, indices: Iterable[int]) -> list[int]:
    """Release tasks (idempotent: an index already released keeps its state); returns the new ones."""
    new = [i for i in indices if i not in rule.tasks]
    for i in new:
        rule.tasks[i] = Task(index=i)
    return new


def mark_release_complete(rule: Rule) -> None:
    """Declare that no further task will be released."""
    rule.release_complete = True


def start_task(rule: Rule, index: int) -> Task:
    """A pending task is handed to the engine: one more attempt."""
    task = rule.tasks[index]
    if task.status != "pending":
        raise ValueError(f"task {index} of rule {rule.id} is {task.status}, not pending")
    task.status = "running"
    task.attempts += 1
    return task


def task_done(rule: Rule, index: int, *, worker: str | None, local: bool | None, rows: int,
              seconds: float = 0.0) -> bool:
    """Record a success; ``False`` when the task was already done (a duplicate, which changes nothing)."""
    task = rule.tasks[index]
    if task.status == "done":
        return False
    task.status, task.worker, task.local, task.rows, task.error = "done", worker, local, rows, None
    task.seconds = seconds
    return True


def fail_task(rule: Rule, index: int, error: str, *, max_attempts: int) -> bool:
    """Record a failure; the task goes back to pending while it has attempts left. Returns ``True`` if it will retry."""
    task = rule.tasks[index]
    if task.status == "done":
        return False  # a late failure report of a task that also succeeded elsewhere
    task.error = error
    retry = task.attempts < max_attempts and rule.status == "active"
    task.status = "pending" if retry else "failed"
    return retry


def counts(rule: Rule) -> dict[str, int]:
    """Progress counters, all derived from the task states."""
    out = {"released": len(rule.tasks), "pending": 0, "running": 0, "done": 0, "failed": 0, "local": 0,
           "retries": 0, "rows": 0}
    for task in rule.tasks.values():
        out[task.status] += 1
        out["retries"] += max(task.attempts - 1, 0)
        if task.status == "done":
            out["rows"] += task.rows
            out["local"] += bool(task.local)
    return out


def is_finished(rule: Rule) -> bool:
    """Release complete and every task done or failed."""
    return rule.release_complete and all(t.status in ("done", "failed") for t in rule.tasks.values())


def finish(rule: Rule) -> None:
    """Move a finished active rule to ``assembling`` (all tasks done) or ``failed`` (some task failed)."""
    if not is_finished(rule):
        raise ValueError(f"rule {rule.id} is not finished")
    failed = [t.index for t in rule.tasks.values() if t.status == "failed"]
    if failed:
        rule.status = "failed"
        first = rule.tasks[failed[0]]
        rule.error = f"{len(failed)} task(s) failed after retries, e.g. task {first.index}: {first.error}"
    else:
        rule.status = "assembling"


def cancel(rule: Rule) -> bool:
    """Cancel an unfinished rule; ``False`` if it had already ended."""
    if rule.status in ("complete", "failed", "cancelled"):
        return False
    rule.status = "cancelled"
    for task in rule.tasks.values():
        if task.status in ("pending", "running"):
            task.status = "failed"
            task.error = "cancelled"
    return True
