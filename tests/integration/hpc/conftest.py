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

import h5py
import numpy as np
import pytest
import zarr

JOB = Path(__file__).with_name("_job.py")
RUN_TIMEOUT_S = 90
GROUP = "Raw_Data-FFT_Filtering_000"
H5_GROUP = f"/Measurement_000/Channel_000/{GROUP}"
OUTPUTS = ("Filtered_Data", "Noise_Floors", "Condensed_Data")


def read_results(target: Path) -> dict[str, np.ndarray]:
    """The job's outputs and status vector, from the source file, a separate .h5 file (group at its root) or Zarr."""
    names = (*OUTPUTS, "completed_positions")
    if target.suffix == ".zarr":
        group = zarr.open_group(str(target), mode="r")[GROUP]
        return {k: np.asarray(group[k][...]) for k in names}
    with _open_when_unlocked(target) as f:
        group = f[H5_GROUP] if H5_GROUP in f else f[GROUP]
        return {k: group[k][()] for k in names}


def _open_when_unlocked(path: Path, *, wait_s: float = 10.0) -> h5py.File:
    """Open for reading; a rank of a job the launcher just aborted may hold the HDF5 lock a moment longer."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return h5py.File(path, "r")
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def mpiexec_command(ranks: int) -> list[str]:
    """``mpiexec`` with the flags this machine needs (root, more ranks than cores)."""
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.fail("mpiexec not found: install openmpi-bin (scripts/test.sh does)")
    flags = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return [exe, *flags, "--oversubscribe", "-n", str(ranks)]


def start_job(
    args: list[str], *, ranks: int | None, env: dict[str, str] | None = None, cwd: Path, mpi_flags: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """Start ``_job.py args`` (under ``mpiexec -n ranks`` unless ranks is None) in its own session."""
    for old in cwd.glob("result-*.json"):
        old.unlink()
    cmd = [sys.executable, str(JOB), *args]
    if ranks is not None:
        cmd = mpiexec_command(ranks) + list(mpi_flags) + cmd
    full_env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1", **(env or {})}
    return subprocess.Popen(
        cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def finish_job(proc: subprocess.Popen[str], cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Wait (bounded) for a job from :func:`start_job`; kill whatever of it is left; return code, records, output."""
    cmd = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, cmd))} hung for {RUN_TIMEOUT_S} s:\n{out}")
    finally:
        _kill_session(proc.pid)
    records = [json.loads(p.read_text()) for p in sorted(cwd.glob("result-*.json"))]
    return proc.returncode, records, out


def run_job(
    args: list[str],
    *,
    ranks: int | None,
    env: dict[str, str] | None = None,
    cwd: Path,
    mpi_flags: tuple[str, ...] = (),
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``_job.py args`` (under ``mpiexec -n ranks`` unless ranks is None) in its own session, bounded in time.

    Returns the exit code, the records the ranks wrote (``result-<rank>.json``), and the combined output.
    """
    return finish_job(start_job(args, ranks=ranks, env=env, cwd=cwd, mpi_flags=mpi_flags), cwd)


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


@pytest.fixture(scope="session")
def reference(source_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Outputs of one uninterrupted serial run over the template, results in the source file."""
    work = tmp_path_factory.mktemp("hpc-ref")
    src = work / "raw.h5"
    shutil.copy(source_template, src)
    code, records, out = run_job(["run", str(src), "same", "203"], ranks=None, cwd=work)
    assert code == 0, out
    assert records[0]["computed"] == 203
    return read_results(src)
