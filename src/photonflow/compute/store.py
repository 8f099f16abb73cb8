"""SQLite persistence of rules, so a restarted scheduler resumes what was unfinished (compute.md §8 B10)."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from photonflow.compute.rules import Rule, Task

__all__ = ["RuleStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (id TEXT PRIMARY KEY, serial INTEGER, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    rule_id TEXT, idx INTEGER, status TEXT, attempts INTEGER, worker TEXT, local INTEGER, rows_ INTEGER, error TEXT,
    seconds REAL,
    PRIMARY KEY (rule_id, idx));
"""


class RuleStore:
    """Rules and task states in one SQLite file (``":memory:"`` for tests).

    Every write is its own transaction, so what was acknowledged survives a crash of the scheduler.

    Parameters
    ----------
    path : Path or str
        Database file; its directory is created.
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0)
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def next_serial(self) -> int:
        """One more than the largest serial stored (1 for an empty store)."""
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(MAX(serial), 0) FROM rules").fetchone()
        return int(row[0]) + 1

    def save_rule(self, rule: Rule) -> None:
        """Write the rule's own fields (not its tasks)."""
        doc = asdict(rule)
        doc.pop("tasks")
        serial = int(rule.id.split("-", 1)[0])
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO rules VALUES (?, ?, ?)", (rule.id, serial, json.dumps(doc)))

    def save_tasks(self, rule_id: str, tasks: list[Task]) -> None:
        """Write the state of some tasks of a rule."""
        rows = [(rule_id, t.index, t.status, t.attempts, t.worker, None if t.local is None else int(t.local), t.rows,
                 t.error, t.seconds) for t in tasks]  # fmt: skip
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def load(self) -> list[Rule]:
        """Every stored rule with its tasks, oldest first."""
        with self._lock:
            docs = self._conn.execute("SELECT doc FROM rules ORDER BY serial").fetchall()
            task_rows = self._conn.execute("SELECT * FROM tasks ORDER BY rule_id, idx").fetchall()
        by_rule: dict[str, dict[int, Task]] = {}
        for rule_id, idx, status, attempts, worker, local, rows, error, seconds in task_rows:
            by_rule.setdefault(rule_id, {})[idx] = Task(
                index=idx, status=status, attempts=attempts, worker=worker,
                local=None if local is None else bool(local), rows=rows, error=error, seconds=seconds or 0.0,
            )
        rules = []
        for (text,) in docs:
            doc = json.loads(text)
            rules.append(Rule(**doc, tasks=by_rule.get(doc["id"], {})))
        return rules
