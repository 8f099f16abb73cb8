"""``photonflow hpc``: write batch job scripts for a Process script, or run it locally (serial or mpiexec)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``hpc jobscript`` and ``hpc run``."""
    parser = subparsers.add_parser("hpc", help="HPC batch jobs: job scripts and local MPI runs")
    sub = parser.add_subparsers(title="hpc commands", metavar="HPC_COMMAND")

    job = sub.add_parser("jobscript", help="write a Slurm or PBS job script that runs SCRIPT.py under MPI")
    job.add_argument("script", help="the Python script (the same one that runs on a laptop)")
    job.add_argument("--scheduler", choices=["slurm", "pbs"], default="slurm")
    job.add_argument("--nodes", type=int, default=1)
    job.add_argument("--ranks-per-node", type=int, default=1, help="MPI ranks per node (one per core)")
    job.add_argument("--walltime", default="01:00:00", help="HH:MM:SS")
    job.add_argument("--job-name")
    job.add_argument("--account")
    job.add_argument("--partition", "--queue", dest="partition", help="Slurm partition or PBS queue")
    job.add_argument("--mem", help="memory per node, e.g. 64G")
    job.add_argument("--qos")
    job.add_argument("--module", action="append", default=[], help="module to load (repeatable)")
    job.add_argument("--python", default="python", help="interpreter on the compute nodes")
    job.add_argument("--workdir", help="directory to run in (default: the submission directory)")
    job.add_argument("--signal-before", type=int, default=300, help="Slurm: SIGUSR1 this many s before the kill")
    job.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    job.add_argument("script_args", nargs="*", help="arguments for the script (after --)")
    job.set_defaults(handler=_jobscript)

    run = sub.add_parser("run", help="run SCRIPT.py here, serially or under mpiexec with --ranks N")
    run.add_argument("script")
    run.add_argument("--ranks", type=int, default=1)
    run.add_argument("--python", default=sys.executable)
    run.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    run.add_argument("script_args", nargs="*", help="arguments for the script (after --)")
    run.set_defaults(handler=_run)


def _jobscript(args: argparse.Namespace) -> int:
    from photonflow.hpc.jobscript import JobSpec, render_jobscript

    text = render_jobscript(
        JobSpec(
            script=args.script,
            scheduler=args.scheduler,
            nodes=args.nodes,
            ranks_per_node=args.ranks_per_node,
            walltime=args.walltime,
            job_name=args.job_name,
            account=args.account,
            partition=args.partition,
            mem=args.mem,
            qos=args.qos,
            modules=tuple(args.module),
            python=args.python,
            workdir=args.workdir,
            signal_before_s=args.signal_before,
            script_args=tuple(args.script_args),
        )
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}; submit it with {'sbatch' if args.scheduler == 'slurm' else 'qsub'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import shlex

    from photonflow.hpc.jobscript import mpiexec_command

    command = mpiexec_command(args.script, ranks=args.ranks, python=args.python, script_args=args.script_args)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    return subprocess.call(command)
