"""HPC benchmark: SignalFilter throughput serial vs 2 MPI ranks, the cost of checkpointing, and pyUSID 0.0.12.

Run: ``.venv/bin/python benchmarks/hpc.py`` (a few minutes). Each number is the median of 3 runs of
``Process.compute()`` timed inside the job (interpreter start-up excluded), on the same compute-bound data
(low-pass + noise threshold on 2048 × 8192 float32 rows). pyUSID is measured when ``.venv-pyusid`` exists; make it
with (reference/process-hpc.md §10):

    python3 -m venv .venv-pyusid && .venv-pyusid/bin/pip install pyUSID==0.0.12 "numpy<2" "pandas<2.3" \
        "pyarrow<16" "scipy<1.14" "scikit-learn<1.6" "dask[array]<2025" "matplotlib<3.10"
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASET = "/Measurement_000/Channel_000/Raw_Data"
POSITIONS, SAMPLES, SAMP_RATE = 2048, 8192, 1e6
REPEATS = 3

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
    def __init__(self, h5_main, composite, tol, **kw):
        super().__init__(h5_main, "FFT_Filtering", **kw)
        self.composite, self.tol = composite, tol
        self.parms_dict = {"noise_threshold": tol}
        self.duplicate_h5_groups, self.partial_h5_groups = self._check_for_duplicates()
        self._max_pos_per_read = int(sys.argv[3])

    def _create_results_datasets(self):
        self.h5_results_grp = create_results_group(self.h5_main, self.process_name)
        self.h5_results_grp.attrs["noise_threshold"] = self.tol
        self.h5_filtered = create_empty_dataset(self.h5_main, self.h5_main.dtype, "Filtered_Data",
                                                h5_group=self.h5_results_grp)

    def _get_existing_datasets(self):
        self.h5_filtered = self.h5_results_grp["Filtered_Data"]

    def _unit_computation(self):
        spectra = np.fft.fftshift(np.fft.fft(self.data, axis=1), axes=1)
        floors = np.array(parallel_compute(spectra, floor_row, cores=1, func_args=[self.tol]))
        spectra *= self.composite
        spectra[np.abs(spectra) < floors[:, None]] = 1e-16
        self._results = np.real(np.fft.ifft(np.fft.ifftshift(spectra, axes=1), axis=1))

    def _write_results_chunk(self):
        self.h5_filtered[self._get_pixels_in_current_batch(), :] = self._results

with h5py.File(sys.argv[1], "r+") as f:
    composite = np.load(sys.argv[2])
    proc = Filter(f["/Measurement_000/Channel_000/Raw_Data"], composite, 1e-4, verbose=False)
    start = time.perf_counter()
    proc.compute()
    print("ELAPSED", time.perf_counter() - start)
"""


def make_data(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from photonflow.hpc.usid import Dimension, write_ind_val

    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES) / SAMP_RATE
    freqs = rng.uniform(5e3, 8e4, size=(POSITIONS, 1))
    data = (
        np.sin(2 * np.pi * freqs * t)
        + 0.5 * np.sin(2 * np.pi * 3e5 * t)
        + 0.2 * rng.standard_normal((POSITIONS, SAMPLES))
    )
    with h5py.File(path, "w") as f:
        group = f.create_group("Measurement_000/Channel_000")
        dset = group.create_dataset("Raw_Data", data=data.astype(np.float32))
        dset.attrs["quantity"], dset.attrs["units"] = "Current", "nA"
        pos = write_ind_val(group, [Dimension("X", "um", POSITIONS)], spectroscopic=False, prefix="Position_")
        spec = write_ind_val(group, [Dimension("Time", "s", t)], spectroscopic=True, prefix="Spectroscopic_")
        for key, anc in zip(
            ("Position_Indices", "Position_Values", "Spectroscopic_Indices", "Spectroscopic_Values"),
            (*pos, *spec),
            strict=True,
        ):
            dset.attrs[key] = anc.ref


def job(path: str, checkpoint: bool, batch: int) -> None:
    """Run inside a (possibly MPI) job: filter ``path`` and print rank 0's elapsed time."""
    from photonflow.hpc.fft_filters import LowPassFilter
    from photonflow.hpc.signal_filter import SignalFilter

    process = SignalFilter(
        path,
        dataset=DATASET,
        frequency_filters=[LowPassFilter(SAMPLES, SAMP_RATE, f_cutoff=1e5)],
        noise_threshold=1e-4,
        batch_size=batch,
        checkpoint=checkpoint,
        progress=False,
    )
    process.comm.barrier()
    start = time.perf_counter()
    process.compute()
    elapsed = time.perf_counter() - start
    if process.comm.rank == 0:
        print("ELAPSED", elapsed, flush=True)


def _elapsed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("ELAPSED"):
            return float(line.split()[1])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")


def _median_run(template: Path, work: Path, cmd_for: object) -> float:
    times = []
    for i in range(REPEATS):
        path = work / f"run{i}.h5"
        shutil.copy(template, path)
        times.append(_elapsed(cmd_for(path), work))  # type: ignore[operator]
        path.unlink()
    return statistics.median(times)


def main() -> None:
    from photonflow.hpc.fft_filters import LowPassFilter
    from photonflow.hpc.jobscript import mpiexec_command

    with tempfile.TemporaryDirectory(prefix="pf-hpc-bench-") as tmp:
        work = Path(tmp)
        template = work / "raw.h5"
        make_data(template)
        batch = POSITIONS // 32
        me = [sys.executable, __file__]
        serial = _median_run(template, work, lambda p: [*me, "--job", str(p), "1", str(batch)])
        no_ckpt = _median_run(template, work, lambda p: [*me, "--job", str(p), "0", str(batch)])
        mpi2 = _median_run(
            template,
            work,
            lambda p: mpiexec_command(
                __file__, ranks=2, python=sys.executable, script_args=["--job", str(p), "1", str(batch)]
            ),
        )
        pyusid_python = ROOT / ".venv-pyusid" / "bin" / "python"
        pyusid: float | str
        if pyusid_python.exists():
            job_file = work / "pyusid_job.py"
            job_file.write_text(PYUSID_JOB)
            composite = work / "composite.npy"
            np.save(composite, LowPassFilter(SAMPLES, SAMP_RATE, f_cutoff=1e5).value)
            pyusid = _median_run(
                template, work, lambda p: [str(pyusid_python), str(job_file), str(p), str(composite), str(batch)]
            )
        else:
            pyusid = "not installed (.venv-pyusid missing)"

    rate = POSITIONS / serial
    print(
        f"HPC benchmark: SignalFilter (low-pass + noise threshold), {POSITIONS} x {SAMPLES} float32, "
        f"batch {batch}, {os.cpu_count()} CPUs, median of {REPEATS}"
    )
    print(f"  photonflow serial, checkpoint on : {serial:7.3f} s  {rate:8.1f} pos/s")
    print(f"  photonflow serial, checkpoint off: {no_ckpt:7.3f} s  {POSITIONS / no_ckpt:8.1f} pos/s")
    print(f"  checkpoint cost                  : {100 * (serial / no_ckpt - 1):+6.1f} %   (target <= 5 %)")
    print(
        f"  photonflow 2 MPI ranks           : {mpi2:7.3f} s  {POSITIONS / mpi2:8.1f} pos/s  "
        f"speedup {serial / mpi2:.2f}x (target >= 1.8x)"
    )
    if isinstance(pyusid, float):
        print(
            f"  pyUSID 0.0.12 serial (numpy 1.x) : {pyusid:7.3f} s  {POSITIONS / pyusid:8.1f} pos/s  "
            f"photonflow serial is {pyusid / serial:.2f}x its speed"
        )
    else:
        print(f"  pyUSID 0.0.12 serial             : {pyusid}")
    print(json.dumps({"serial_s": serial, "no_checkpoint_s": no_ckpt, "mpi2_s": mpi2, "pyusid_s": pyusid}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        job(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))
    else:
        main()
