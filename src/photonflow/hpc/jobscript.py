"""Batch job scripts (Slurm, PBS) and the local ``mpiexec`` command line for a photonflow Process script.

The same Python script runs on a laptop (``python script.py``) and in a job (``srun``/``mpiexec python
script.py``); the job script only requests resources, loads modules, pins BLAS to one thread per rank (each
rank is one core) and, with Slurm's ``--signal``, asks for SIGUSR1 before the wall-time kill so the run stops
at a clean checkpoint. A re-submitted job resumes where the previous one stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from photonflow.errors import ConfigError

__all__ = ["JobSpec", "mpiexec_command", "render_jobscript"]

_THREAD_VARS = "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1"


@dataclass(frozen=True)
class JobSpec:
    """What a batch job asks for.

    Parameters
    ----------
    script : str
        The Python script to run (the same one that runs on a laptop).
    scheduler : {"slurm", "pbs"}
    nodes, ranks_per_node : int
        MPI layout: one rank per core.
    walltime : str
        ``HH:MM:SS`` (or ``D-HH:MM:SS`` for Slurm).
    job_name, account, partition, mem, qos : str, optional
        ``partition`` is the PBS queue. ``mem`` is per node, e.g. ``"64G"``.
    modules : sequence of str
        ``module load`` lines, after ``module purge`` (nothing when empty).
    python : str
        Interpreter on the compute nodes.
    workdir : str, optional
        Directory to run in (default: where the job was submitted from).
    signal_before_s : int
        Seconds before the wall time at which Slurm sends SIGUSR1 (0: none).
    script_args : sequence of str
    """

    script: str
    scheduler: Literal["slurm", "pbs"] = "slurm"
    nodes: int = 1
    ranks_per_node: int = 1
    walltime: str = "01:00:00"
    job_name: str | None = None
    account: str | None = None
    partition: str | None = None
    mem: str | None = None
    qos: str | None = None
    modules: Sequence[str] = field(default=())
    python: str = "python"
    workdir: str | None = None
    signal_before_s: int = 300
    script_args: Sequence[str] = field(default=())

    def validate(self) -> None:
        if self.scheduler not in ("slurm", "pbs"):
            raise ConfigError(f"scheduler must be 'slurm' or 'pbs', got {self.scheduler!r}")
        if self.nodes < 1 or self.ranks_per_node < 1:
            raise ConfigError(f"nodes and ranks-per-node must be ≥ 1, got {self.nodes} and {self.ranks_per_node}")
        if not re.fullmatch(r"(\d+-)?\d{1,3}:\d{2}:\d{2}", self.walltime):
            raise ConfigError(f"walltime must look like HH:MM:SS (or D-HH:MM:SS), got {self.walltime!r}")
        if self.mem is not None and not re.fullmatch(r"\d+[KMGT]?B?", self.mem, flags=re.IGNORECASE):
            raise ConfigError(f"mem must look like 64G or 4000M, got {self.mem!r}")


def _pbs_walltime(walltime: str) -> str:
    if "-" not in walltime:
        return walltime
    days, rest = walltime.split("-", 1)
    hours, minutes, seconds = rest.split(":")
    return f"{int(days) * 24 + int(hours)}:{minutes}:{seconds}"


def render_jobscript(spec: JobSpec) -> str:
    """The text of a ready-to-submit job script (``sbatch`` / ``qsub``)."""
    spec.validate()
    name = spec.job_name or Path(spec.script).stem
    ranks = spec.nodes * spec.ranks_per_node
    command = shlex.join([spec.python, spec.script, *spec.script_args])
    lines = ["#!/bin/bash"]
    if spec.scheduler == "slurm":
        lines += [
            f"#SBATCH --job-name={name}",
            f"#SBATCH --nodes={spec.nodes}",
            f"#SBATCH --ntasks-per-node={spec.ranks_per_node}",
            "#SBATCH --cpus-per-task=1",
            f"#SBATCH --time={spec.walltime}",
            "#SBATCH --output=%x-%j.out",
        ]
        lines += [f"#SBATCH --account={spec.account}"] if spec.account else []
        lines += [f"#SBATCH --partition={spec.partition}"] if spec.partition else []
        lines += [f"#SBATCH --mem={spec.mem}"] if spec.mem else []
        lines += [f"#SBATCH --qos={spec.qos}"] if spec.qos else []
        lines += [f"#SBATCH --signal=USR1@{spec.signal_before_s}"] if spec.signal_before_s else []
        workdir = spec.workdir or '"$SLURM_SUBMIT_DIR"'
        # A rank that dies ends the step at once, whatever the site's KillOnBadExit default.
        launch = f"srun --kill-on-bad-exit=1 {command}"
    else:
        lines += [
            f"#PBS -N {name}",
            f"#PBS -l nodes={spec.nodes}:ppn={spec.ranks_per_node}",
            f"#PBS -l walltime={_pbs_walltime(spec.walltime)}",
            "#PBS -j oe",
        ]
        lines += [f"#PBS -A {spec.account}"] if spec.account else []
        lines += [f"#PBS -q {spec.partition}"] if spec.partition else []
        lines += [f"#PBS -l mem={spec.mem.lower()}"] if spec.mem else []
        lines += [f"#PBS -l qos={spec.qos}"] if spec.qos else []
        workdir = spec.workdir or '"$PBS_O_WORKDIR"'
        launch = f"mpiexec -n {ranks} {command}"
    lines += ["set -euo pipefail", ""]
    if spec.modules:
        lines += ["module purge", *(f"module load {m}" for m in spec.modules), "module list", ""]
    lines += [
        "# One core per rank: stop BLAS/OpenMP/numba threads from oversubscribing the node.",
        _THREAD_VARS,
        f"cd {workdir}",
        "# Exit code 75: stopped at a checkpoint by the pre-kill signal. Re-submitting resumes from there.",
    ]
    if spec.scheduler == "slurm":
        lines += [launch, ""]  # --signal=USR1@T reaches the ranks of the job step directly
    else:
        lines += [
            "# PBS signals only this shell at the wall time: forward it to the ranks through mpiexec.",
            f"{launch} &",
            "pid=$!",
            "trap 'kill -USR1 \"$pid\" 2>/dev/null' USR1 TERM",
            "status=0",
            'wait "$pid" || status=$?',
            'while kill -0 "$pid" 2>/dev/null; do wait "$pid" || status=$?; done',
            'exit "$status"',
            "",
        ]
    return "\n".join(lines)


def mpiexec_command(
    script: str, *, ranks: int, python: str, script_args: Sequence[str] = (), as_root: bool | None = None
) -> list[str]:
    """The local ``mpiexec`` command for ``ranks`` ranks (Open MPI flags for root and oversubscription).

    Returns ``[python, script, ...]`` when ``ranks`` is 1: a serial run needs no launcher.
    """
    if ranks < 1:
        raise ConfigError(f"ranks must be ≥ 1, got {ranks}")
    command = [python, script, *script_args]
    if ranks == 1:
        return command
    exe = shutil.which("mpiexec")
    if exe is None:
        raise ConfigError("mpiexec not found: install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    root = os.geteuid() == 0 if as_root is None else as_root
    flags = ["--allow-run-as-root"] if root else []
    if ranks > 2:
        flags.append("--oversubscribe")
    return [exe, *flags, "-n", str(ranks), *command]
