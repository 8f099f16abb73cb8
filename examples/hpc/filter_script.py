"""Filter every position of an h5USID file: the same script on a laptop and on a cluster.

    python filter_script.py raw.h5                                   # laptop, serial
    photonflow hpc run --ranks 4 filter_script.py raw.h5             # this machine, 4 MPI ranks
    photonflow hpc jobscript --nodes 2 --ranks-per-node 36 --walltime 02:00:00 filter_script.py raw.h5 > job.sh
    sbatch job.sh                                                     # cluster; re-submit after a kill to resume

Results go to ``Raw_Data-FFT_Filtering_NNN`` next to the data. Running it again with the same parameters returns
the finished results, or resumes an interrupted run; exit code 75 means "stopped at a checkpoint, run again".
"""

from __future__ import annotations

import sys

import h5py

from photonflow.errors import ComputeInterruptedError
from photonflow.hpc.fft_filters import LowPassFilter
from photonflow.hpc.signal_filter import SignalFilter

DATASET = "/Measurement_000/Channel_000/Raw_Data"


def main(path: str) -> int:
    with h5py.File(path, "r") as f:  # read the parameters, then close: the framework opens the file itself
        samp_rate = float(f["/Measurement_000/Channel_000"].attrs["IO_samp_rate_[Hz]"])
        samples = f[DATASET].shape[1]
    process = SignalFilter(
        path,
        dataset=DATASET,
        frequency_filters=[LowPassFilter(samples, samp_rate, f_cutoff=10e3)],
        noise_threshold=1e-6,
        write_filtered=True,
    )
    try:
        result = process.compute()
    except ComputeInterruptedError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    if process.comm.rank == 0:
        print(f"results: {result.path}:{result.group} ({result.computed} positions computed now)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
