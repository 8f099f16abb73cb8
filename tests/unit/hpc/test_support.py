"""USID model, memory budget, MPI detection, job scripts and the ``photonflow hpc`` command (§9 24, 29, 33)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photonflow.cli import main
from photonflow.errors import ConfigError, HPCError
from photonflow.hpc.jobscript import JobSpec, mpiexec_command, render_jobscript
from photonflow.hpc.memory import batch_size_for, job_memory_limit, memory_budget
from photonflow.hpc.mpi import SerialComm, get_comm, launcher_world_size
from photonflow.hpc.usid import Dimension, build_ind_val, sort_order


def test_build_ind_val_puts_slowest_first_and_reshapes() -> None:
    inds, vals, labels, units = build_ind_val([Dimension("X", "um", 4), Dimension("Y", "um", [0.5, 1.0, 1.5])])
    assert labels == ["Y", "X"] and units == ["um", "um"] and inds.dtype == np.uint32 and vals.dtype == np.float32
    np.testing.assert_array_equal(inds[:, 1], np.tile(np.arange(4), 3))
    np.testing.assert_array_equal(inds[:, 0], np.repeat(np.arange(3), 4))
    assert [labels[i] for i in sort_order(inds)] == ["X", "Y"]
    data = np.arange(12 * 5).reshape(12, 5)
    nd = data.reshape(3, 4, 5)
    np.testing.assert_array_equal(nd[1, 2], data[1 * 4 + 2])
    np.testing.assert_array_equal(nd.reshape(12, 5), data)


def test_memory_limits_from_the_job(tmp_path: Path) -> None:
    assert job_memory_limit({"SLURM_MEM_PER_NODE": "2048"}) == 2048 * 2**20
    assert job_memory_limit({"SLURM_MEM_PER_CPU": "1G", "SLURM_CPUS_ON_NODE": "4"}) == 4 * 2**30
    assert job_memory_limit({"PBS_RESC_MEM": "8gb"}) == 8 * 2**30
    assert job_memory_limit({}) is None
    (tmp_path / "memory.max").write_text(str(300 * 2**20))
    (tmp_path / "memory.current").write_text(str(100 * 2**20))
    budget = memory_budget(ranks_on_node=2, environ={"SLURM_MEM_PER_NODE": "1024"}, cgroup_root=tmp_path)
    assert budget == 100 * 2**20
    assert memory_budget(max_mem_mb=10, environ={}, cgroup_root=tmp_path) == 10 * 2**20


def test_batch_size_respects_budget_and_balance() -> None:
    assert batch_size_for(bytes_per_position=1000, budget_bytes=10_000, positions=10**6, ranks=1) == 10
    assert batch_size_for(bytes_per_position=1, budget_bytes=10**9, positions=160, ranks=2) == 10
    with pytest.raises(HPCError, match="budget"):
        batch_size_for(bytes_per_position=2000, budget_bytes=1000, positions=10, ranks=1)


def test_mpi_detection_without_a_launcher() -> None:
    assert launcher_world_size({}) == 1
    assert launcher_world_size({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert launcher_world_size({"PMI_SIZE": "3"}) == 3
    comm = get_comm({})
    assert isinstance(comm, SerialComm) and (comm.rank, comm.size) == (0, 1)
    counter = comm.counter()
    assert [counter.next() for _ in range(3)] == [0, 1, 2]


def test_slurm_and_pbs_scripts() -> None:
    slurm = render_jobscript(
        JobSpec(
            "filt.py",
            nodes=2,
            ranks_per_node=36,
            walltime="00:30:00",
            account="acct",
            partition="batch",
            mem="64G",
            modules=("python/3.11",),
            script_args=("--in", "a b.h5"),
        )
    )
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=36",
        "#SBATCH --time=00:30:00",
        "#SBATCH --account=acct",
        "#SBATCH --partition=batch",
        "#SBATCH --mem=64G",
        "#SBATCH --signal=USR1@300",
        "module load python/3.11",
        "srun --kill-on-bad-exit=1 python filt.py --in 'a b.h5'",
    ):
        assert line in slurm.splitlines()
    assert "MKL_NUM_THREADS=1" in slurm
    pbs = render_jobscript(
        JobSpec("filt.py", scheduler="pbs", nodes=2, ranks_per_node=4, walltime="1-02:00:00", partition="gpu")
    )
    for line in ("#PBS -l nodes=2:ppn=4", "#PBS -l walltime=26:00:00", "#PBS -q gpu", "mpiexec -n 8 python filt.py &"):
        assert line in pbs.splitlines()
    for script in (slurm, pbs):
        assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    with pytest.raises(ConfigError):
        render_jobscript(JobSpec("x.py", walltime="30 minutes"))


def test_mpiexec_flags() -> None:
    assert mpiexec_command("s.py", ranks=1, python="py") == ["py", "s.py"]
    two = mpiexec_command("s.py", ranks=2, python="py", as_root=True)
    assert "--allow-run-as-root" in two and "--oversubscribe" not in two and two[-4:] == ["-n", "2", "py", "s.py"]
    three = mpiexec_command("s.py", ranks=3, python="py", as_root=False)
    assert "--oversubscribe" in three and "--allow-run-as-root" not in three


def test_cli_jobscript_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "job.sh"
    assert (
        main(
            [
                "hpc",
                "jobscript",
                "--scheduler",
                "pbs",
                "--nodes",
                "1",
                "--ranks-per-node",
                "2",
                "--walltime",
                "00:10:00",
                "--queue",
                "short",
                "-o",
                str(out),
                "s.py",
            ]
        )
        == 0
    )
    assert "#PBS -q short" in out.read_text()
    script = tmp_path / "hello.py"
    script.write_text("import sys; sys.exit(7)\n")
    assert main(["hpc", "run", "--python", sys.executable, str(script)]) == 7
