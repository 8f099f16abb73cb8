"""Scheduler and worker subprocesses on loopback for the compute integration tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_SCHEDULER = re.compile(r"photonflow scheduler listening on (tcp://\S+) api=(http://\S+)")
_WORKER = re.compile(r"photonflow worker connected to ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path
    match: re.Match[str] | None = None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}


def _wait(p: Proc, pattern: re.Pattern[str], timeout: float = 60.0, skip: int = 0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matches = [m for line in p.log.read_text(errors="replace").splitlines() if (m := pattern.search(line))]
        if len(matches) > skip:
            return matches[skip]
        if p.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{p.log.name} not ready:\n{p.log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def compute_procs(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """``start(kind, *args)`` runs ``photonflow <kind> ... --config /dev/null`` and waits for its ready line."""
    started: list[Proc] = []
    counter = iter(range(1000))

    def start(kind: str, *args: str, wait: bool = True) -> Proc:
        log = tmp_path / f"{kind}-{next(counter)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "photonflow", kind, *args, "--config", os.devnull],
                                    stdout=out, stderr=subprocess.STDOUT, env=_env())
        p = Proc(proc, log)
        started.append(p)
        if wait:
            p.match = _wait(p, _SCHEDULER if kind == "scheduler" else _WORKER)
        return p

    yield start
    for p in reversed(started):
        try:
            p.terminate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_worker_reconnect(p: Proc, count: int, timeout: float = 60.0) -> None:
    """Wait for the ``count``-th 'connected' line of a worker (1 = first connection)."""
    _wait(p, _WORKER, timeout=timeout, skip=count - 1)
