"""Shared fixtures: in-process and subprocess data servers on loopback.

``listener`` is the port of a socket listening on 127.0.0.1.
``dataserver(root=None, *, cluster="test", token=None, **kw)`` starts a server in this process (stopped at
teardown); ``dataserver_process(root=None, *, cluster="test", token=None, args=())`` runs
``python -m photonflow dataserver ... --port 0 --advertise none [args...]`` (environment plus ``env``) and returns a
handle with ``url``, ``port``, ``root``, ``proc``, ``kill()`` and ``terminate()`` (killed at teardown, never left
behind; its stderr goes to a log file named in the start-up error).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from photonflow.storage.server import RunningServer, start_server

from ._process import stdout_lines

_LISTENING = re.compile(r"photonflow dataserver listening on (http://\S+):(\d+) cluster=(\S+) root=(.*)$")
_START_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


@pytest.fixture
def listener() -> Iterator[int]:
    """Port of a socket listening on 127.0.0.1 (accepting nothing) for the test's duration."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def dataserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningServer]]:
    """Factory starting in-process data servers on 127.0.0.1 port 0; all are stopped at teardown."""
    started: list[RunningServer] = []

    def factory(root: Path | None = None, *, cluster: str = "test", token: str | None = None,
                **kw: Any) -> RunningServer:
        srv = start_server(root if root is not None else tmp_path_factory.mktemp("dataserver"), cluster=cluster,
                           token=token, **kw)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop(grace=2)


@dataclasses.dataclass
class DataServerProcess:
    """A data server running as ``python -m photonflow dataserver`` in a child process."""

    proc: subprocess.Popen[str]
    url: str
    port: int
    root: Path
    cluster: str

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM the server, wait for it to exit, return its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def dataserver_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., DataServerProcess]]:
    """Factory starting data server subprocesses (port 0, no advertising); all are killed at teardown."""
    started: list[DataServerProcess] = []
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a server (re)started from
    # a short-lived test thread would be SIGKILLed as soon as that thread returned. So one spawner thread forks
    # every child and lives until teardown has killed them all.
    spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataserver-spawner")

    def factory(root: Path | None = None, *, cluster: str = "test", token: str | None = None,
                args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> DataServerProcess:
        root = root if root is not None else tmp_path_factory.mktemp("dataserver")
        cmd = [sys.executable, "-m", "photonflow", "dataserver", "--root", str(root), "--cluster", cluster,
               "--port", "0", "--advertise", "none", "--config", os.devnull, *args]
        if token is not None:
            cmd += ["--token", token]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")} | dict(env or {})
        log_path = tmp_path_factory.mktemp("dataserver-log") / "stderr.log"
        with open(log_path, "w") as log:  # a file, not a pipe: a chatty server must never block on stderr
            proc = spawner.submit(subprocess.Popen, cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                  env=child_env, preexec_fn=_die_with_parent).result()
        handle = _wait_listening(proc, root, cluster, log_path)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.kill()
        if handle.proc.stdout is not None:
            handle.proc.stdout.close()
    spawner.shutdown()


def _die_with_parent() -> None:
    # Runs in the child before exec: SIGKILL it if pytest itself is killed (e.g. by a timeout) before teardown,
    # so no server outlives the test session. prctl was looked up before fork: no dlopen (and its locks) here.
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_listening(proc: subprocess.Popen[str], root: Path, cluster: str, log_path: Path) -> DataServerProcess:
    for line in stdout_lines(proc, timeout=_START_TIMEOUT_S):
        match = _LISTENING.match(line.strip())
        if match:
            url = f"{match.group(1)}:{match.group(2)}"
            return DataServerProcess(proc=proc, url=url, port=int(match.group(2)), root=root, cluster=cluster)
    proc.kill()
    proc.communicate(timeout=10)
    raise RuntimeError(f"data server did not start within {_START_TIMEOUT_S} s; stderr:\n{log_path.read_text()}")
