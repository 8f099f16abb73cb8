"""Faults around checkpoints, each bounded in time (§9 19, 20, 23), and a rank that dies under MPI.

* 19: a kill after a batch's data is written and flushed but before its status update;
* 20: SIGTERM (SIGUSR1 through ``mpiexec``) lets the current batch finish and checkpoint, exit code 75;
* 23: three kills at different points, with different rank counts, then a completing run;
* a worker rank (or rank 0) SIGKILLed alone ends the whole job within seconds, even when the launcher would let
  the others run on (``mpiexec --enable-recovery``, like ``srun`` without ``--kill-on-bad-exit``).

After every fault the positions flagged done hold their final values, and the completing run is bit-identical to
an uninterrupted serial run.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import OUTPUTS, finish_job, read_results, start_job

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(240)]

POSITIONS = 203
BATCH = 6


def _target(tmp_path: Path, source_template: Path, store: str) -> tuple[Path, Path, str]:
    src = tmp_path / "raw.h5"
    shutil.copy(source_template, src)
    if store == "zarr":
        return src, tmp_path / "out.zarr", str(tmp_path / "out.zarr")
    return src, src, "same"


def _assert_flags_have_data(target: Path, reference: dict[str, np.ndarray]) -> np.ndarray:
    partial = read_results(target)
    done = partial["completed_positions"].astype(bool)
    for name in OUTPUTS:
        np.testing.assert_array_equal(partial[name][done], reference[name][done], err_msg=name)
    return done


def _assert_final(target: Path, reference: dict[str, np.ndarray]) -> None:
    final = read_results(target)
    for name in (*OUTPUTS, "completed_positions"):
        np.testing.assert_array_equal(final[name], reference[name], err_msg=name)


@pytest.mark.parametrize(
    ("ranks", "store"),
    [pytest.param(None, "hdf5", id="serial-hdf5"), pytest.param(2, "hdf5", id="mpi2-hdf5"), ("serial", "zarr")],
)
def test_kill_between_data_write_and_status_update(
    ranks: int | str | None, store: str, reference, source_template: Path, tmp_path: Path, job_runner
) -> None:  # type: ignore[no-untyped-def]
    ranks = None if ranks == "serial" else ranks
    src, target, target_arg = _target(tmp_path, source_template, store)
    env = {"KILL_BEFORE_FLAG": "3", "BATCH_SLEEP_S": "0.01"}
    code, records, out = job_runner(["run", str(src), target_arg, str(BATCH)], ranks=ranks, env=env, cwd=tmp_path)
    assert code != 0 and not records, f"the writer was not killed:\n{out}"

    written = read_results(target)
    done = _assert_flags_have_data(target, reference)
    assert done.sum() == 2 * BATCH, "exactly the two checkpoints before the kill are recorded"
    # The third batch's rows reached the file before the kill, unflagged: data without a flag is allowed.
    unflagged_written = ~done & np.all(written["Noise_Floors"] == reference["Noise_Floors"], axis=1)
    assert unflagged_written.sum() >= BATCH

    code, records, out = job_runner(["run", str(src), target_arg, str(BATCH)], ranks=ranks, cwd=tmp_path)
    assert code == 0, out
    assert sum(r["computed"] for r in records) == POSITIONS - 2 * BATCH  # the unflagged batch is recomputed
    _assert_final(target, reference)


@pytest.mark.parametrize(
    ("ranks", "sig"),
    [pytest.param(None, signal.SIGTERM, id="serial-SIGTERM"), pytest.param(2, signal.SIGUSR1, id="mpi2-SIGUSR1")],
)
def test_signal_finishes_the_batch_checkpoints_and_exits_75(
    ranks: int | None, sig: signal.Signals, reference, source_template: Path, tmp_path: Path, job_runner
) -> None:  # type: ignore[no-untyped-def]
    src, target, target_arg = _target(tmp_path, source_template, "hdf5")
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"BATCH_SLEEP_S": "0.25", "MARK_DIR": str(marks)}
    proc = start_job(["run", str(src), target_arg, str(BATCH)], ranks=ranks, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 3:  # mid-run: some batches done, many to go
        assert proc.poll() is None and time.monotonic() < deadline, "the job ended or never started"
        time.sleep(0.05)
    proc.send_signal(sig)  # serial: the job itself; MPI: mpiexec, which forwards SIGUSR1 to every rank
    code, records, out = finish_job(proc, tmp_path)
    assert code == 75, out
    assert records and all(r["interrupted"] for r in records), out

    done = _assert_flags_have_data(target, reference)
    rows = sum(r["rows"] for r in records)
    # Every batch that was started was finished and checkpointed: every computed row is flagged, none lost.
    assert 0 < done.sum() < POSITIONS
    assert done.sum() == rows, f"{rows} positions computed, {done.sum()} flagged"

    code, records, out = job_runner(["run", str(src), target_arg, str(BATCH)], ranks=ranks, cwd=tmp_path)
    assert code == 0, out
    assert all(r["resumed"] for r in records)
    _assert_final(target, reference)


def test_repeated_kills_then_a_completing_run(reference, source_template: Path, tmp_path: Path, job_runner) -> None:  # type: ignore[no-untyped-def]
    src, target, target_arg = _target(tmp_path, source_template, "hdf5")
    flagged = [0]
    # Three kills at different points and rank counts (rank 0 the writer, then a worker), then a 3-rank finish.
    for ranks, kill_after, kill_rank in ((None, 3, 0), (2, 4, 1), (None, 2, 0)):
        env = {"KILL_AFTER": str(kill_after), "KILL_RANK": str(kill_rank), "BATCH_SLEEP_S": "0.02"}
        code, records, out = job_runner(["run", str(src), target_arg, str(BATCH)], ranks=ranks, env=env, cwd=tmp_path)
        assert code != 0 and not records, f"the job was not killed:\n{out}"
        done = _assert_flags_have_data(target, reference)
        assert flagged[-1] <= done.sum() < POSITIONS
        flagged.append(int(done.sum()))
    assert flagged[-1] > 0
    code, records, out = job_runner(["run", str(src), target_arg, str(BATCH)], ranks=3, cwd=tmp_path)
    assert code == 0, out
    assert sum(r["computed"] for r in records) == POSITIONS - flagged[-1]
    _assert_final(target, reference)


@pytest.mark.parametrize(
    ("ranks", "kill_rank", "flags"),
    [
        pytest.param(2, 1, ("--enable-recovery",), id="mpi2-worker-recovery"),
        pytest.param(3, 2, ("--enable-recovery",), id="mpi3-worker-recovery"),
        pytest.param(2, 0, ("--enable-recovery",), id="mpi2-rank0-recovery"),
        pytest.param(3, 1, (), id="mpi3-worker-default"),
    ],
)
def test_a_dead_rank_ends_the_job_within_seconds(
    ranks: int, kill_rank: int, flags: tuple[str, ...], reference, source_template: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    src, target, target_arg = _target(tmp_path, source_template, "hdf5")
    stamp = tmp_path / "killed-at"
    env = {
        "KILL_AFTER": "3",
        "KILL_RANK": str(kill_rank),
        "KILL_MODE": "self",  # only that rank: the others must notice
        "KILL_STAMP": str(stamp),
        "BATCH_SLEEP_S": "0.05",
    }
    proc = start_job(["run", str(src), target_arg, str(BATCH)], ranks=ranks, env=env, cwd=tmp_path, mpi_flags=flags)
    _, records, out = finish_job(proc, tmp_path)  # the exit code is the launcher's choice (0 after Abort here)
    ended = time.time()
    assert stamp.exists(), out
    assert not records, f"the job completed although rank {kill_rank} died:\n{out}"
    # A few seconds, not the 90 s run timeout (without detection, --enable-recovery waits forever).
    assert ended - float(stamp.read_text()) < 15, out
    if flags:
        assert "died" in out, out  # our detection ended it, not the launcher
    _assert_flags_have_data(target, reference)
