"""Fixtures for the WebDAV gateway: ``photonflow webdav`` as a subprocess in front of in-process data servers."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photonflow.storage.server import RunningServer

from ..._process import stdout_lines

_LISTENING = re.compile(r"photonflow webdav listening on (https?://\S+) ")
USER, PASSWORD = "litmus", "s3cret-for-tests"


@dataclasses.dataclass
class Gateway:
    """A running ``photonflow webdav``."""

    url: str
    servers: list[RunningServer]
    proc: subprocess.Popen[str]


def start_webdav(servers: list[RunningServer], tmp: Path, *, extra: list[str] | None = None,
                 cluster: str = "dav") -> subprocess.Popen[str]:
    """Start the gateway; the caller reads its first stdout line."""
    password_file = tmp / "password"
    password_file.write_text(PASSWORD + "\n")
    cmd = [sys.executable, "-m", "photonflow", "webdav", "--port", "0", "--cluster", cluster,
           "--servers", ",".join(s.url for s in servers), "--config", os.devnull,
           "--user", USER, "--password-file", str(password_file), *(extra or [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def wait_url(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The URL the gateway prints once it listens."""
    seen = []
    for line in stdout_lines(proc, timeout=timeout):
        seen.append(line)
        match = _LISTENING.match(line)
        if match:
            return match.group(1)
    proc.kill()
    raise RuntimeError("photonflow webdav did not start:\n" + "".join(seen))


@pytest.fixture
def gateway(dataserver: Callable[..., RunningServer], tmp_path: Path) -> Iterator[Gateway]:
    """Two data servers of cluster 'dav' behind one gateway."""
    servers = [dataserver(cluster="dav"), dataserver(cluster="dav")]
    proc = start_webdav(servers, tmp_path)
    try:
        yield Gateway(url=wait_url(proc), servers=servers, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
