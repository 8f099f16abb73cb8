"""SIGKILL mid-run, then re-run: the result equals an uninterrupted serial run bit for bit (§9 18, 21, 22, 26).

Each job runs as the same script, serially or under a real Open MPI ``mpiexec`` with 1, 2 and 3 ranks, for HDF5
(results in the source file) and Zarr outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import OUTPUTS, read_results

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(240)]

CASES = [
    pytest.param(None, "hdf5", 0, id="serial-hdf5"),
    pytest.param(None, "zarr", 0, id="serial-zarr"),
    pytest.param(1, "hdf5", 0, id="mpi1-hdf5"),
    pytest.param(1, "zarr", 0, id="mpi1-zarr"),
    pytest.param(2, "hdf5", 0, id="mpi2-hdf5-kill-writer"),
    pytest.param(2, "zarr", 1, id="mpi2-zarr"),
    pytest.param(3, "hdf5", 2, id="mpi3-hdf5-kill-worker"),
    pytest.param(3, "zarr", 2, id="mpi3-zarr"),
]


@pytest.mark.parametrize(("ranks", "store", "kill_rank"), CASES)
def test_sigkill_then_rerun_is_bit_identical(
    ranks: int | None, store: str, kill_rank: int, reference, source_template: Path, tmp_path: Path, job_runner
) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "raw.h5"
    shutil.copy(source_template, src)
    target = src if store == "hdf5" else tmp_path / "out.zarr"
    target_arg = "same" if store == "hdf5" else str(target)
    # Batches of 6 positions: 34 batches, uneven per rank; rank 0 of an HDF5 MPI run computes in slices.
    code, records, out = job_runner(
        ["run", str(src), target_arg, "6"],
        ranks=ranks,
        env={"KILL_AFTER": "4", "KILL_RANK": str(kill_rank), "BATCH_SLEEP_S": "0.02"},
        cwd=tmp_path,
    )
    assert code != 0 and not records, f"the job was not killed:\n{out}"

    partial = read_results(target)
    done = partial["completed_positions"].astype(bool)
    assert 0 < done.sum() < 203, f"the kill was not mid-run: {done.sum()} positions flagged"
    for name in OUTPUTS:  # no flag without its data on disk
        np.testing.assert_array_equal(partial[name][done], reference[name][done])

    # Resume with another rank count than the killed run: dynamic batches land differently.
    resume_ranks = {None: None, 1: 2, 2: 3, 3: 2}[ranks]
    code, records, out = job_runner(["run", str(src), target_arg, "6"], ranks=resume_ranks, cwd=tmp_path)
    assert code == 0, out
    assert all(r["resumed"] for r in records)
    assert sum(r["computed"] for r in records) == 203 - done.sum()  # flagged positions are not recomputed

    final = read_results(target)
    for name in (*OUTPUTS, "completed_positions"):
        assert final[name].dtype == reference[name].dtype
        np.testing.assert_array_equal(final[name], reference[name], err_msg=name)
