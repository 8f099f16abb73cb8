"""Memory budget of this rank and the batch size it allows.

The budget is the smallest of: memory the OS reports available (psutil), the job's limit under Slurm
(``SLURM_MEM_PER_NODE``, or ``SLURM_MEM_PER_CPU`` × CPUs) or PBS (``PBS_RESC_MEM``, ``PBS_RESOURCE_MEM``), the
cgroup limit (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``) less what the cgroup already uses, and the
user's cap; the node's share is then divided among the ranks on the node.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import psutil

from photonflow.errors import HPCError

__all__ = ["batch_size_for", "job_memory_limit", "memory_budget"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "t": 2**40,
    "tb": 2**40,
}


def _parse_size(text: str, *, default_unit: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None:
        return None
    unit = (match.group(2) or default_unit).lower()
    if unit not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[unit])


def _cgroup_headroom(root: Path) -> int | None:
    """Bytes the current cgroup may still allocate, or None when it has no limit."""
    for limit_name, usage_name in (
        ("memory.max", "memory.current"),
        ("memory.limit_in_bytes", "memory.usage_in_bytes"),
    ):
        for base in (root, root / "memory"):
            limit_file = base / limit_name
            try:
                raw = limit_file.read_text().strip()
            except OSError:
                continue
            if raw == "max" or not raw.isdigit() or int(raw) >= 2**60:
                return None
            try:
                used = int((base / usage_name).read_text().strip())
            except (OSError, ValueError):
                used = 0
            return max(int(raw) - used, 0)
    return None


def job_memory_limit(environ: Mapping[str, str] | None = None) -> int | None:
    """The batch job's memory limit for this node in bytes, from Slurm/PBS variables, or None outside a job."""
    env = os.environ if environ is None else environ
    if "SLURM_MEM_PER_NODE" in env:
        return _parse_size(env["SLURM_MEM_PER_NODE"], default_unit="m")
    if "SLURM_MEM_PER_CPU" in env:
        per_cpu = _parse_size(env["SLURM_MEM_PER_CPU"], default_unit="m")
        cpus = env.get("SLURM_CPUS_ON_NODE") or env.get("SLURM_JOB_CPUS_PER_NODE", "1").split("(")[0]
        return None if per_cpu is None else per_cpu * max(int(cpus) if cpus.isdigit() else 1, 1)
    for name in ("PBS_RESC_MEM", "PBS_RESOURCE_MEM"):
        if name in env:
            return _parse_size(env[name], default_unit="b")
    return None


def memory_budget(
    *,
    max_mem_mb: float | None = None,
    ranks_on_node: int = 1,
    environ: Mapping[str, str] | None = None,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """Bytes this rank may use for one batch.

    Parameters
    ----------
    max_mem_mb : float, optional
        The user's cap for the whole node, in MiB.
    ranks_on_node : int
        Ranks sharing this node's memory; the node budget is split evenly.
    environ : mapping, optional
        Environment to read the job limits from (default ``os.environ``).
    cgroup_root : Path
        Where the cgroup file system is mounted.
    """
    limits = [int(psutil.virtual_memory().available)]
    for extra in (job_memory_limit(environ), _cgroup_headroom(cgroup_root)):
        if extra is not None:
            limits.append(extra)
    if max_mem_mb is not None:
        limits.append(int(max_mem_mb * 2**20))
    return min(limits) // max(ranks_on_node, 1)


def batch_size_for(
    *,
    bytes_per_position: float,
    budget_bytes: int,
    positions: int,
    ranks: int,
    batches_per_rank: int = 8,
) -> int:
    """Positions per batch: as many as the budget holds, but small enough to give each rank several batches.

    Several batches per rank keep the dynamic load balance effective and bound the work a kill can lose.

    Raises
    ------
    HPCError
        When one position does not fit in the budget.
    """
    fits = int(budget_bytes // max(bytes_per_position, 1.0))
    if fits < 1:
        raise HPCError(
            f"one position needs {bytes_per_position / 2**20:.1f} MiB but the memory budget is "
            f"{budget_bytes / 2**20:.1f} MiB; raise max_mem_mb (or the job's --mem), or use fewer ranks per node"
        )
    balanced = math.ceil(max(positions, 1) / (max(ranks, 1) * batches_per_rank))
    return max(1, min(fits, balanced))
