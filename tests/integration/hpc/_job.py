"""The job script the HPC integration tests run, serially or under ``mpiexec`` (the same file for both).

    python _job.py make PATH P S            write a synthetic h5USID file
    python _job.py run PATH TARGET BATCH    SignalFilter over it (TARGET: "same", a .h5 or a .zarr path)

Each rank writes what ``compute()`` returned to ``result-<rank>.json`` in the working directory (after a signal
stopped the run: ``{"interrupted": true, "rows": <rows given to compute_batch>}``, and the exit code is 75).
With ``KILL_AFTER=N`` (and ``KILL_RANK=r``, default 0) rank r SIGKILLs its process group in its N-th
compute_batch call: a deterministic, mid-computation kill (``KILL_MODE=self``: only that rank's own process;
``KILL_STAMP=FILE``: write the kill's wall-clock time there first). With ``KILL_BEFORE_FLAG=N`` the writer
SIGKILLs its process group in its N-th checkpoint, after the batch's data is written and flushed and before the
status update. ``MARK_DIR=DIR``: every compute_batch call first creates ``DIR/call-<rank>-<n>``.
``BATCH_SLEEP_S`` adds time to every batch.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import h5py
import numpy as np

from photonflow.errors import ComputeInterruptedError
from photonflow.hpc import stores
from photonflow.hpc.fft_filters import LowPassFilter, NoiseBandFilter
from photonflow.hpc.signal_filter import SignalFilter
from photonflow.hpc.usid import Dimension, write_ind_val

DATASET = "/Measurement_000/Channel_000/Raw_Data"
SAMP_RATE = 1e6


def make(path: str, positions: int, samples: int) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(samples) / SAMP_RATE
    freqs = rng.uniform(5e3, 8e4, size=(positions, 1))
    data = (
        np.sin(2 * np.pi * freqs * t)
        + 0.5 * np.sin(2 * np.pi * 3e5 * t)
        + 0.2 * rng.standard_normal((positions, samples))
    )
    with h5py.File(path, "w") as f:
        group = f.create_group("Measurement_000/Channel_000")
        group.attrs["IO_samp_rate_[Hz]"] = SAMP_RATE
        dset = group.create_dataset("Raw_Data", data=data.astype(np.float32))
        dset.attrs["quantity"] = "Current"
        dset.attrs["units"] = "nA"
        pos = write_ind_val(group, [Dimension("X", "um", positions)], spectroscopic=False, prefix="Position_")
        spec = write_ind_val(group, [Dimension("Time", "s", t)], spectroscopic=True, prefix="Spectroscopic_")
        for key, anc in zip(("Position_Indices", "Position_Values"), pos, strict=True):
            dset.attrs[key] = anc.ref
        for key, anc in zip(("Spectroscopic_Indices", "Spectroscopic_Values"), spec, strict=True):
            dset.attrs[key] = anc.ref


class KillableFilter(SignalFilter):
    calls = 0
    rows = 0

    def compute_batch(self, data: np.ndarray):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        type(self).rows += len(data)
        if "MARK_DIR" in os.environ:
            with open(os.path.join(os.environ["MARK_DIR"], f"call-{self.comm.rank}-{type(self).calls}"), "w"):
                pass
        if self.comm.rank == int(os.environ.get("KILL_RANK", "0")) and type(self).calls == int(
            os.environ.get("KILL_AFTER", "0")
        ):
            if "KILL_STAMP" in os.environ:
                with open(os.environ["KILL_STAMP"], "w") as stamp:
                    stamp.write(repr(time.time()))
            if os.environ.get("KILL_MODE") == "self":
                os.kill(os.getpid(), signal.SIGKILL)
            os.killpg(os.getpgid(0), signal.SIGKILL)
        # A little time per batch, so every rank gets batches before the fastest one has taken them all.
        time.sleep(float(os.environ.get("BATCH_SLEEP_S", "0")))
        return super().compute_batch(data)


def _kill_before_flag(after: int) -> None:
    """Make the writer die in its ``after``-th checkpoint: data written and flushed, status not yet updated."""
    count = 0

    def wrap(original):  # type: ignore[no-untyped-def]
        def checkpoint(self, positions):  # type: ignore[no-untyped-def]
            nonlocal count
            count += 1
            if count == after:
                os.killpg(os.getpgid(0), signal.SIGKILL)
            return original(self, positions)

        return checkpoint

    stores._HDF5Writer._flag = wrap(stores._HDF5Writer._flag)  # type: ignore[method-assign]
    stores._ZarrWriter.mark_done = wrap(stores._ZarrWriter.mark_done)  # type: ignore[method-assign]


def run(path: str, target: str, batch: int) -> int:
    if "KILL_BEFORE_FLAG" in os.environ:
        _kill_before_flag(int(os.environ["KILL_BEFORE_FLAG"]))
    samples = h5py.File(path, "r", locking=False)[DATASET].shape[1]
    filters = [
        LowPassFilter(samples, SAMP_RATE, f_cutoff=1e5),
        NoiseBandFilter(samples, SAMP_RATE, freqs=(5e4,), freq_widths=(4e3,)),
    ]
    process = KillableFilter(
        path,
        dataset=DATASET,
        frequency_filters=filters,
        noise_threshold=1e-4,
        write_condensed=True,
        target=None if target == "same" else target,
        batch_size=batch,
        progress=False,
    )
    try:
        result = process.compute()
    except ComputeInterruptedError as exc:
        record = {"rank": process.comm.rank, "interrupted": True, "rows": KillableFilter.rows}
        code = exc.exit_code
    else:
        record = {"rank": process.comm.rank, **result.__dict__}
        code = 0
    # One file per rank: lines printed by several ranks interleave in mpiexec's output.
    with open(f"result-{process.comm.rank}.json", "w") as out:
        json.dump(record, out)
    return code


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(run(sys.argv[2], sys.argv[3], int(sys.argv[4])))
