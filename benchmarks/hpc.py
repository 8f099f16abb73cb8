"""HPC benchmark: SignalFilter serial vs 2 MPI ranks, the cost of checkpointing, and pyUSID 0.0.12 beside them.

Run: ``.venv/bin/python benchmarks/hpc.py`` (about 4 minutes on 2 cores; ``--repeats N`` to change the default 5).
Every time is ``Process.compute()`` timed inside the job (interpreter and ``mpiexec`` start-up excluded); each
configuration runs ``repeats`` times, interleaved with the others so a change in machine load hits all alike, and
the median is printed with the spread (min–max).

Two cases:

* **compute-bound** (the targets): 2048 × 16384 float32 rows, low-pass (20 kHz) + noise-band filters + noise
  threshold, condensed output (the passed bins, 4 % of the input bytes) and noise floors. Reading and the FFTs
  run on every rank; only the small outputs travel to rank 0 and are written there. The job reports the
  fraction of its time spent inside ``compute_batch``.
* **I/O-bound** (for contrast): 2048 × 8192 rows, low-pass + noise threshold, the whole filtered signal written
  (64 MB in, 64 MB out through the single HDF5 writer).

Checkpoint cost = (a flushed checkpoint record after every batch) / (the same run and outputs with the records
deferred to one at the end) − 1. Beside the 2-rank speed-up the script measures the machine's own limit in the
same run: the same ``compute_batch`` calls on rows already in memory, all in one process vs split over two
processes started together (no MPI, no I/O). On a shared machine that ceiling is below 2×, and the MPI run
cannot beat it. pyUSID is measured when ``.venv-pyusid`` exists; make it with
(reference/process-hpc.md §10):

    python3 -m venv .venv-pyusid && .venv-pyusid/bin/pip install pyUSID==0.0.12 "numpy<2" "pandas<2.3" \
        "pyarrow<16" "scipy<1.14" "scikit-learn<1.6" "dask[array]<2025" "matplotlib<3.10"
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASET = "/Measurement_000/Channel_000/Raw_Data"
SAMP_RATE = 1e6
TOLERANCE = 1e-4
BATCHES = 32


@dataclass(frozen=True)
class Case:
    name: str
    positions: int
    samples: int
    condensed: bool  # True: condensed spectrum + noise floors; False: the whole filtered signal + noise floors


COMPUTE = Case("compute-bound", 2048, 16384, condensed=True)
IO = Case("I/O-bound", 2048, 8192, condensed=False)

PYUSID_JOB = r"""
import sys, time, h5py, numpy as np
from pyUSID.processing.process import Process
from pyUSID.io.hdf_utils import create_results_group, create_empty_dataset
from pyUSID.processing.comp_utils import parallel_compute

def floor_row(spectrum, tol):
    amp = np.abs(spectrum)
    n = len(amp)
    prev = np.sqrt(np.sum(amp ** 2) / (2 * n))
    thr = np.sqrt(2 * prev ** 2 * -np.log(tol))
    for _ in range(49):
        amp[amp > thr] = 0
        new = np.sqrt(np.sum(amp ** 2) / (2 * n))
        resid = abs(new - prev)
        thr = np.sqrt(2 * new ** 2 * -np.log(tol))
        prev = new
        if resid <= 1e-2:
            break
    return thr

class Filter(Process):
    def __init__(self, h5_main, composite, tol, condensed, **kw):
        super().__init__(h5_main, "FFT_Filtering", **kw)
        self.composite, self.tol, self.condensed = composite, tol, condensed
        hot = np.flatnonzero(composite > 0)
        self.hot_bins = hot[len(hot) // 2:]
        self.parms_dict = {"noise_threshold": tol, "condensed": int(condensed)}
        self.duplicate_h5_groups, self.partial_h5_groups = self._check_for_duplicates()
        self._max_pos_per_read = int(sys.argv[3])

    def _create_results_datasets(self):
        self.h5_results_grp = create_results_group(self.h5_main, self.process_name)
        for key, value in self.parms_dict.items():
            self.h5_results_grp.attrs[key] = value
        n = self.h5_main.shape[0]
        self.h5_floors = self.h5_results_grp.create_dataset("Noise_Floors", shape=(n, 1), dtype=np.float32)
        if self.condensed:
            self.h5_out = self.h5_results_grp.create_dataset(
                "Condensed_Data", shape=(n, len(self.hot_bins)), dtype=np.complex64)
        else:
            self.h5_out = create_empty_dataset(self.h5_main, self.h5_main.dtype, "Filtered_Data",
                                               h5_group=self.h5_results_grp)

    def _get_existing_datasets(self):
        self.h5_floors = self.h5_results_grp["Noise_Floors"]
        self.h5_out = self.h5_results_grp["Condensed_Data" if self.condensed else "Filtered_Data"]

    def _unit_computation(self):
        spectra = np.fft.fftshift(np.fft.fft(self.data, axis=1), axes=1)
        floors = np.array(parallel_compute(spectra, floor_row, cores=1, func_args=[self.tol]))
        spectra *= self.composite
        spectra[np.abs(spectra) < floors[:, None]] = 1e-16
        out = spectra[:, self.hot_bins] if self.condensed else np.real(
            np.fft.ifft(np.fft.ifftshift(spectra, axes=1), axis=1))
        self._results = (floors, out)

    def _write_results_chunk(self):
        rows = self._get_pixels_in_current_batch()
        self.h5_floors[rows, :] = self._results[0][:, None]
        self.h5_out[rows, :] = self._results[1]

with h5py.File(sys.argv[1], "r+") as f:
    composite = np.load(sys.argv[2])
    proc = Filter(f["/Measurement_000/Channel_000/Raw_Data"], composite, float(sys.argv[4]), sys.argv[5] == "1",
                  verbose=False)
    start = time.perf_counter()
    proc.compute()
    print("ELAPSED", time.perf_counter() - start, "COMPUTE", 0.0)
"""


def make_data(path: Path, case: Case) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from photonflow.hpc.usid import Dimension, write_ind_val

    rng = np.random.default_rng(0)
    t = np.arange(case.samples) / SAMP_RATE
    freqs = rng.uniform(5e3, 8e4, size=(case.positions, 1))
    data = (
        np.sin(2 * np.pi * freqs * t)
        + 0.5 * np.sin(2 * np.pi * 3e5 * t)
        + 0.2 * rng.standard_normal((case.positions, case.samples))
    )
    with h5py.File(path, "w") as f:
        group = f.create_group("Measurement_000/Channel_000")
        dset = group.create_dataset("Raw_Data", data=data.astype(np.float32))
        dset.attrs["quantity"], dset.attrs["units"] = "Current", "nA"
        pos = write_ind_val(group, [Dimension("X", "um", case.positions)], spectroscopic=False, prefix="Position_")
        spec = write_ind_val(group, [Dimension("Time", "s", t)], spectroscopic=True, prefix="Spectroscopic_")
        for key, anc in zip(
            ("Position_Indices", "Position_Values", "Spectroscopic_Indices", "Spectroscopic_Values"),
            (*pos, *spec),
            strict=True,
        ):
            dset.attrs[key] = anc.ref


def _filters(samples: int, condensed: bool) -> list:  # type: ignore[type-arg]
    from photonflow.hpc.fft_filters import LowPassFilter, NoiseBandFilter

    if not condensed:
        return [LowPassFilter(samples, SAMP_RATE, f_cutoff=1e5)]
    return [
        LowPassFilter(samples, SAMP_RATE, f_cutoff=2e4),
        NoiseBandFilter(samples, SAMP_RATE, freqs=(5e4,), freq_widths=(4e3,)),
    ]


def _filter(path: str, condensed: bool, **kwargs: object):  # type: ignore[no-untyped-def]
    from photonflow.hpc.signal_filter import SignalFilter

    samples = h5py.File(path, "r", locking=False)[DATASET].shape[1]
    return SignalFilter(
        path,
        dataset=DATASET,
        frequency_filters=_filters(samples, condensed),
        noise_threshold=TOLERANCE,
        write_filtered=not condensed,
        write_condensed=condensed,
        progress=False,
        **kwargs,
    )


def kernel(path: str, start: int, stop: int, batch: int, at: float) -> None:
    """The machine's limit: ``compute_batch`` over rows [start, stop) held in memory, started at time ``at``."""
    process = _filter(path, True)
    with h5py.File(path, "r", locking=False) as f:
        data = f[DATASET][start:stop]
    time.sleep(max(0.0, at - time.time()))
    start = time.perf_counter()
    for i in range(0, len(data), batch):
        process.compute_batch(data[i : i + batch])
    print("TOOK", time.perf_counter() - start, flush=True)


def _ceiling(path: Path, positions: int, batch: int) -> tuple[float, float]:
    """Seconds of the kernel over every row in one process, and (the slower of) two processes sharing the rows."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    walls = []
    for parts in (1, 2):
        at = time.time() + 4.0  # both processes have imported and read their rows by then
        bounds = np.linspace(0, positions, parts + 1).astype(int)
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--kernel", str(path), str(a), str(b), str(batch), str(at)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for a, b in itertools.pairwise(bounds)
        ]
        walls.append(max(float(p.communicate(timeout=300)[0].split()[1]) for p in procs))
    return walls[0], walls[1]


def job(path: str, checkpoint: bool, batch: int, condensed: bool) -> None:
    """Run inside a (possibly MPI) job: filter ``path``; rank 0 prints its elapsed and in-compute seconds."""
    from photonflow.hpc.signal_filter import SignalFilter

    class TimedFilter(SignalFilter):
        compute_s = 0.0

        def compute_batch(self, data: np.ndarray):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            out = super().compute_batch(data)
            TimedFilter.compute_s += time.perf_counter() - start
            return out

    samples = h5py.File(path, "r", locking=False)[DATASET].shape[1]
    process = TimedFilter(
        path,
        dataset=DATASET,
        frequency_filters=_filters(samples, condensed),
        noise_threshold=TOLERANCE,
        write_filtered=not condensed,
        write_condensed=condensed,
        batch_size=batch,
        checkpoint=checkpoint,
        progress=False,
    )
    process.comm.barrier()
    start = time.perf_counter()
    process.compute()
    elapsed = time.perf_counter() - start
    if process.comm.rank == 0:
        print("ELAPSED", elapsed, "COMPUTE", TimedFilter.compute_s, flush=True)


def _elapsed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("ELAPSED"):
            fields = line.split()
            return float(fields[1]), float(fields[3])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")


@dataclass
class Series:
    label: str
    command: Callable[[Path], list[str]]
    times: list[float]
    compute: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def spread(self) -> str:
        return f"{min(self.times):.2f}–{max(self.times):.2f}"


def _measure(case: Case, work: Path, repeats: int, with_pyusid: bool) -> tuple[list[Series], list[float]]:
    from photonflow.hpc.jobscript import mpiexec_command

    template = work / f"raw-{case.samples}.h5"
    make_data(template, case)
    batch = case.positions // BATCHES
    cond = "1" if case.condensed else "0"
    me = [sys.executable, __file__]
    series = [
        Series("serial, checkpoint every batch", lambda p: [*me, "--job", str(p), "1", str(batch), cond], [], []),
        Series("serial, checkpoint records deferred", lambda p: [*me, "--job", str(p), "0", str(batch), cond], [], []),
        Series(
            "2 MPI ranks, checkpoint every batch",
            lambda p: mpiexec_command(
                __file__, ranks=2, python=sys.executable, script_args=["--job", str(p), "1", str(batch), cond]
            ),
            [],
            [],
        ),
    ]
    pyusid_python = ROOT / ".venv-pyusid" / "bin" / "python"
    if with_pyusid and pyusid_python.exists():
        job_file = work / "pyusid_job.py"
        job_file.write_text(PYUSID_JOB)
        composite = work / f"composite-{case.samples}.npy"
        value = np.ones(case.samples, dtype=np.float32)
        for f in _filters(case.samples, case.condensed):
            value = value * f.value
        np.save(composite, value.astype(np.float32))
        py = [str(pyusid_python), str(job_file)]
        series.append(
            Series(
                "pyUSID 0.0.12 serial (numpy 1.26)",
                lambda p: [*py, str(p), str(composite), str(batch), str(TOLERANCE), cond],
                [],
                [],
            )
        )
    ceilings = []
    for i in range(repeats):
        # Interleaved, in alternating order: a change of machine load hits every configuration alike.
        for s in series if i % 2 == 0 else series[::-1]:
            path = work / f"run-{i}.h5"
            shutil.copy(template, path)
            elapsed, compute = _elapsed(s.command(path), work)
            s.times.append(elapsed)
            s.compute.append(compute)
            path.unlink()
        if case.condensed:
            one, two = _ceiling(template, case.positions, batch)
            ceilings.append(one / two)
    template.unlink()
    return series, ceilings


def _report(case: Case, series: list[Series], ceilings: list[float], repeats: int) -> dict[str, object]:
    serial, deferred, mpi2 = series[:3]
    n = case.positions
    print(
        f"\n{case.name}: SignalFilter over {n} x {case.samples} float32, "
        f"{'condensed + noise floors' if case.condensed else 'filtered signal + noise floors'} written, "
        f"batch {n // BATCHES}, {os.cpu_count()} CPUs, median (min–max) of {repeats} interleaved runs"
    )
    for s in series:
        fraction = statistics.median(c / t for c, t in zip(s.compute, s.times, strict=True))
        extra = f"  rank 0 in compute_batch {100 * fraction:4.1f} %" if fraction > 0 else ""
        print(f"  {s.label:<38}: {s.median:7.3f} s ({s.spread()})  {n / s.median:8.1f} pos/s{extra}")
    cost = serial.median / deferred.median - 1
    speedup = serial.median / mpi2.median
    per_run = [a / b - 1 for a, b in zip(serial.times, deferred.times, strict=True)]
    print(
        f"  checkpoint cost                       : {100 * cost:+6.1f} %  (per interleaved pair "
        f"{100 * min(per_run):+.1f} … {100 * max(per_run):+.1f} %; target <= 5 %)"
    )
    print(f"  speed-up, 2 MPI ranks vs serial       : {speedup:6.2f} x  (target >= 1.8 x)")
    if ceilings:
        ceiling = statistics.median(ceilings)
        print(
            f"  machine limit, 2 processes, no MPI/IO : {ceiling:6.2f} x ({min(ceilings):.2f}–{max(ceilings):.2f})"
            f"  -> MPI run reaches {100 * speedup / ceiling:.0f} % of it"
        )
    if len(series) > 3:
        print(f"  photonflow serial vs pyUSID serial    : {series[3].median / serial.median:6.2f} x its speed")
    return {
        "case": case.name,
        **{s.label: {"median_s": s.median, "times_s": s.times} for s in series},
        "checkpoint_cost": cost,
        "speedup_2_ranks": speedup,
        "machine_2_process_ceiling": ceilings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compute-only", action="store_true", help="skip the I/O-bound contrast case")
    args = parser.parse_args()
    cases = [COMPUTE] if args.compute_only else [COMPUTE, IO]
    summary = []
    with tempfile.TemporaryDirectory(prefix="pf-hpc-bench-") as tmp:
        for case in cases:
            series, ceilings = _measure(case, Path(tmp), args.repeats, with_pyusid=True)
            summary.append(_report(case, series, ceilings, args.repeats))
    if not (ROOT / ".venv-pyusid" / "bin" / "python").exists():
        print("pyUSID 0.0.12: not measured (.venv-pyusid missing; see this script's docstring)")
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        job(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5] == "1")
    elif len(sys.argv) > 1 and sys.argv[1] == "--kernel":
        kernel(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        main()
