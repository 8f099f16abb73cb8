"""Fixtures for the HPC integration tests: running the job script serially or under a real ``mpiexec``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

JOB = Path(__file__).with_name("_job.py")
RUN_TIMEOUT_S = 90


def mpiexec_command(ranks: int) -> list[str]:
    """``mpiexec`` with the flags this machine needs (root, more ranks than cores)."""
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.fail("mpiexec not found: install openmpi-bin (scripts/test.sh does)")
    flags = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return [exe, *flags, "--oversubscribe", "-n", str(ranks)]


def run_job(
    args: list[str], *, ranks: int | None, env: dict[str, str] | None = None, cwd: Path
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``_job.py args`` (under ``mpiexec -n ranks`` unless ranks is None) in its own session, bounded in time.

    Returns the exit code, the records the ranks wrote (``result-<rank>.json``), and the combined output.
    """
    for old in cwd.glob("result-*.json"):
        old.unlink()
    cmd = [sys.executable, str(JOB), *args]
    if ranks is not None:
        cmd = mpiexec_command(ranks) + cmd
    full_env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1", **(env or {})}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {RUN_TIMEOUT_S} s:\n{out}")
    finally:
        _kill_session(proc.pid)
    records = [json.loads(p.read_text()) for p in sorted(cwd.glob("result-*.json"))]
    return proc.returncode, records, out


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _kill_session(sid: int) -> None:
    """SIGKILL every process left in the job's session (MPI ranks may sit in their own process groups) and wait
    until none is left, so no rank of a killed job still holds a file lock when the test reads the output."""
    deadline = time.monotonic() + 10
    while members := _session_members(sid):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            pytest.fail(f"processes {members} of a killed job would not die")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def job_runner() -> Callable[..., tuple[int, list[dict[str, Any]], str]]:
    return run_job


@pytest.fixture(scope="session")
def source_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 203-position × 256-sample h5USID file (203 is divisible by neither the batch size nor 2 or 3)."""
    path = tmp_path_factory.mktemp("hpc-src") / "raw.h5"
    code, _, out = run_job(["make", str(path), "203", "256"], ranks=None, cwd=path.parent)
    assert code == 0, out
    return path
