"""What the rule service reports besides rules: the Dask workers, and per-rule throughput. Pure (no I/O)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from photonflow.compute.locality import TAG_SEPARATOR

__all__ = ["RESPONSIVE_S", "Throughput", "worker_row", "worker_rows"]

# A worker whose last heartbeat is older than this is reported unresponsive (Dask's heartbeats come every ≤ 5 s
# on small clusters; the scheduler itself drops a worker only after a much longer silence).
RESPONSIVE_S = 15.0


def worker_row(ws: Any, *, now: float) -> dict[str, Any]:
    """One worker as ``GET /api/workers`` answers it, from a Dask scheduler's ``WorkerState``.

    Parameters
    ----------
    ws : distributed.scheduler.WorkerState
        The scheduler's record of the worker (read only).
    now : float
        Current ``time.time()``, to judge the last heartbeat.

    Returns
    -------
    dict
        ``name``, ``address``, ``dataserver`` (URL of the data server the worker sits beside, or ``None``),
        ``responsive``, ``nthreads``, ``memory_used`` and ``memory_limit`` (bytes), ``cpu`` (percent),
        ``tasks_executing``, ``last_seen`` (Unix time).
    """
    name = str(ws.name)
    server, sep, _ = name.partition(TAG_SEPARATOR)
    metrics: Mapping[str, Any] = getattr(ws, "metrics", None) or {}
    status = str(getattr(getattr(ws, "status", None), "name", getattr(ws, "status", "running")))
    last_seen = float(getattr(ws, "last_seen", now))
    return {
        "name": name,
        "address": str(ws.address),
        "dataserver": server if sep and server else None,
        "responsive": status == "running" and now - last_seen <= RESPONSIVE_S,
        "nthreads": int(ws.nthreads),
        "memory_used": _int_or_none(metrics.get("memory")),
        "memory_limit": int(ws.memory_limit) if ws.memory_limit else None,
        "cpu": _float_or_none(metrics.get("cpu")),
        "tasks_executing": len(getattr(ws, "processing", ()) or ()),
        "last_seen": last_seen,
    }


def worker_rows(workers: Iterable[Any], *, now: float) -> list[dict[str, Any]]:
    """:func:`worker_row` of every worker, sorted by name."""
    return sorted((worker_row(ws, now=now) for ws in workers), key=lambda row: (row["name"], row["address"]))


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class Throughput:
    """Frames and localizations per second of one rule, from the completions the engine collects.

    While the rule runs, the rate is over the last ``window_s`` seconds (or since the first task was submitted, if
    later); once it ended, over its whole run (first submission to last completion).

    Parameters
    ----------
    window_s : float
        Length of the sliding window.
    """

    window_s: float = 10.0
    started: float | None = None
    last: float | None = None
    frames: int = 0
    rows: int = 0
    _recent: deque[tuple[float, int, int]] = field(default_factory=deque)

    def start(self, now: float) -> None:
        """A task was submitted (only the first call counts)."""
        if self.started is None:
            self.started = now

    def add(self, now: float, *, frames: int, rows: int) -> None:
        """A task completed, having analysed ``frames`` frames into ``rows`` localizations."""
        self.start(now)
        self.last = now
        self.frames += frames
        self.rows += rows
        self._recent.append((now, frames, rows))

    def rates(self, now: float, *, ended: bool = False) -> tuple[float | None, float | None]:
        """``(frames_per_s, localizations_per_s)``; ``(None, None)`` while nothing can be said yet.

        Parameters
        ----------
        now : float
            The clock ``start``/``add`` were given (``time.monotonic()``).
        ended : bool
            The rule ended: whole-run averages instead of the sliding window.
        """
        if self.started is None:
            return None, None
        if ended:
            span = (self.last or self.started) - self.started
            return (self.frames / span, self.rows / span) if span > 0 else (None, None)
        horizon = now - self.window_s
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        span = now - max(horizon, self.started)
        if span <= 0:
            return None, None
        return sum(f for _, f, _ in self._recent) / span, sum(r for _, _, r in self._recent) / span
