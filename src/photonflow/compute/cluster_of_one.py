"""A cluster of one: data server, scheduler and workers as child processes on loopback (PYMEClusterOfOne, fixed).

No fixed sleeps and no start order: each child prints a readiness line, which is awaited; workers are given the
scheduler's address. :meth:`ClusterOfOne.stop` sends SIGTERM to every child (workers first), waits, and kills what
is left, so nothing outlives it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from photonflow.errors import ServerUnavailableError

__all__ = ["ClusterOfOne"]

_DATASERVER = re.compile(r"photonflow dataserver listening on (http://\S+) ")
_SCHEDULER = re.compile(r"photonflow scheduler listening on (tcp://\S+) api=(http://\S+)")
_WORKER = re.compile(r"photonflow worker connected to ")


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class ClusterOfOne:
    """Start with :meth:`start` (or ``with``); every address is known once it returns.

    Parameters
    ----------
    root : Path
        Directory the data server serves; logs go to ``<root>/.photonflow/logs``, rule state to
        ``<root>/.photonflow/rules.sqlite``.
    cluster : str
        Cluster name.
    workers : int
        Worker processes (one thread each).
    start_timeout_s : float
        Longest wait for each child's readiness line.
    """

    root: Path
    cluster: str
    workers: int = 1
    start_timeout_s: float = 60.0
    dataserver_url: str = ""
    scheduler_address: str = ""
    api_url: str = ""
    _children: list[_Child] = field(default_factory=list)

    def __enter__(self) -> ClusterOfOne:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self, name: str, *args: str) -> _Child:
        logs = self.root / ".photonflow" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "photonflow", *args, "--cluster", self.cluster],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        child = _Child(name, proc, log)
        self._children.append(child)
        return child

    def _wait_line(self, child: _Child, pattern: re.Pattern[str]) -> re.Match[str]:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            text = child.log.read_text(errors="replace")
            for line in text.splitlines():
                match = pattern.search(line)
                if match:
                    return match
            if child.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = child.log.read_text(errors="replace")[-2000:]
        raise ServerUnavailableError(f"{child.name} did not start (see {child.log}):\n{tail}")

    def start(self) -> ClusterOfOne:
        """Start data server, scheduler, then workers; return when all are ready.

        Raises
        ------
        ServerUnavailableError
            A child did not print its readiness line in time (its log is quoted); everything started is stopped.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            ds = self._spawn("dataserver", "dataserver", "--root", str(self.root), "--port", "0", "--advertise",
                             "local", "--no-fsync")
            sched = self._spawn("scheduler", "scheduler", "--advertise", "local", "--state",
                                str(self.root / ".photonflow" / "rules.sqlite"))
            self.dataserver_url = self._wait_line(ds, _DATASERVER).group(1)
            match = self._wait_line(sched, _SCHEDULER)
            self.scheduler_address, self.api_url = match.group(1), match.group(2)
            started = [self._spawn(f"worker-{i}", "worker", "--dataserver", self.dataserver_url, "--scheduler",
                                   self.scheduler_address, "--nthreads", "1") for i in range(self.workers)]
            for child in started:
                self._wait_line(child, _WORKER)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """SIGTERM every child (workers first, data server last), then SIGKILL what has not exited."""
        for child in reversed(self._children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in reversed(self._children):
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        self._children.clear()

    @property
    def pids(self) -> list[int]:
        """Process ids of the children (for checks that nothing is left behind)."""
        return [c.proc.pid for c in self._children]

    def data_path(self, cluster_path: str) -> Path:
        """Local file of a cluster path (everything is on this host's single data server)."""
        return self.root / cluster_path.lstrip("/")

    def env(self) -> dict[str, str]:
        """Environment in which ``photonflow analyse`` finds this cluster."""
        return {**os.environ, "PHOTONFLOW_SCHEDULER_API": self.api_url, "PHOTONFLOW_CLUSTER": self.cluster}
